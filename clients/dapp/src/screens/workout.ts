// Record a workout, see the anti-cheat answer, get the reward voucher of an accepted one and claim it.
import { claimVoucher, describeError, fit, recordWorkout, requestVoucher, type Voucher,
  type WorkoutInput } from "../platform";
import { requireWallet } from "../session";
import { busy, byId, h, replace } from "../ui/dom";
import { announce } from "../ui/status";

const form = () => byId<HTMLFormElement>("workout-form");

export function setUpWorkout(onClaimed: () => void): void {
  setDefaultTimes();
  form().addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(byId<HTMLButtonElement>("record-workout"), () => submit(onClaimed));
  });
}

/** A 30-minute workout that ended an hour ago, as a starting point. */
function setDefaultTimes(): void {
  const end = new Date(Date.now() - 60 * 60_000);
  end.setSeconds(0, 0);
  byId<HTMLInputElement>("workout-end").value = localInputValue(end);
  byId<HTMLInputElement>("workout-start").value = localInputValue(new Date(end.getTime() - 30 * 60_000));
}

function localInputValue(moment: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}T${pad(moment.getHours())}:`
    + pad(moment.getMinutes());
}

/** The form as the API's workout, or the first thing wrong with it, in words. */
function readForm(): WorkoutInput | string {
  const value = (id: string) => byId<HTMLInputElement>(id).value.trim();
  const started = new Date(value("workout-start"));
  const ended = new Date(value("workout-end"));
  if (Number.isNaN(started.getTime()) || Number.isNaN(ended.getTime())) return "Give the start and end date and time.";
  const number = (id: string) => (value(id) === "" ? undefined : Number(value(id)));
  const distanceKm = number("workout-distance");
  const input: WorkoutInput = {
    activity: byId<HTMLSelectElement>("workout-activity").value,
    started_at: started.toISOString(),
    ended_at: ended.toISOString(),
  };
  if (distanceKm !== undefined) input.distance_m = Math.round(distanceKm * 1000);
  const steps = number("workout-steps");
  if (steps !== undefined) input.steps = steps;
  const heartRate = number("workout-heart-rate");
  if (heartRate !== undefined) input.avg_heart_rate = heartRate;
  return input;
}

async function submit(onClaimed: () => void): Promise<void> {
  const result = byId("workout-result");
  const voucherBox = byId("voucher");
  voucherBox.hidden = true;
  const input = readForm();
  if (typeof input === "string") {
    show(result, "refused", h("p", {}, input));
    announce(input, "error");
    return;
  }
  try {
    const outcome = await recordWorkout(input);
    if (outcome.accepted) {
      const button = h("button", { type: "button", id: "get-voucher" }, "Get my reward voucher");
      button.addEventListener("click", () => void busy(button, () => getVoucher(outcome.id, onClaimed)));
      show(result, "ok", h("h3", {}, "Workout accepted"),
        h("p", {}, "The anti-cheat checks passed. Your reward voucher is ready to be signed."), button);
      announce("Workout accepted.", "success");
    } else {
      show(result, "refused", h("h3", {}, "Workout refused"),
        h("p", {}, "The anti-cheat checks refused this workout:"),
        h("ul", { id: "refusal-reasons" }, ...outcome.reasons.map((reason) => h("li", {}, reason))));
      announce(`Workout refused: ${outcome.reasons.join("; ")}.`, "error");
    }
  } catch (error) {
    show(result, "refused", h("h3", {}, "Not recorded"), h("p", {}, describeError(error)));
    announce(describeError(error), "error");
  }
}

async function getVoucher(workoutId: string, onClaimed: () => void): Promise<void> {
  const box = byId("voucher");
  try {
    const voucher = await requestVoucher(workoutId);
    const claim = h("button", { type: "button", id: "claim-voucher" }, `Claim ${fit(voucher.amount)}`);
    claim.addEventListener("click", () => void busy(claim, () => claimWithWallet(voucher, onClaimed)));
    show(box, "ok", h("h3", {}, `Reward: ${fit(voucher.amount)}`),
      h("p", {}, `Paid to ${voucher.account} when your wallet sends the claim, before ${voucher.deadline.toLocaleString()}.`),
      claim);
    announce(`Voucher ready: ${fit(voucher.amount)}. Claim it with your wallet.`, "success");
  } catch (error) {
    show(box, "refused", h("h3", {}, "No voucher"), h("p", {}, describeError(error)));
    announce(describeError(error), "error");
  }
}

async function claimWithWallet(voucher: Voucher, onClaimed: () => void): Promise<void> {
  const box = byId("voucher");
  try {
    announce("Confirm the claim transaction in your wallet.");
    const sent = await claimVoucher(requireWallet().client, voucher);
    show(box, "ok", h("h3", {}, `Claimed ${fit(voucher.amount)}`),
      h("p", { id: "claim-receipt" }, `In block ${sent.blockNumber}, transaction `, h("span", { class: "hex" }, sent.txHash),
        "."),
      h("p", {}, h("a", { href: "#balance" }, "See your balance")));
    announce(`Claimed ${fit(voucher.amount)} in block ${sent.blockNumber}.`, "success");
    onClaimed();
  } catch (error) {
    const words = describeError(error);
    box.append(h("p", { class: "error" }, words));
    announce(words, "error");
  }
}

function show(box: HTMLElement, tone: "ok" | "refused", ...content: Node[]): void {
  box.className = `result session-only ${tone}`;
  replace(box, ...content);
  box.hidden = false;
}
