// What the page tells the member: the status line (an aria-live region, for the outcome of what they
// just did) and toasts for notifications arriving live (their own polite log region).
import { byId, h } from "./dom";

export type Tone = "info" | "success" | "error";

export function announce(text: string, tone: Tone = "info"): void {
  const region = byId("status");
  region.dataset.tone = tone;
  region.textContent = text;
}

const TOAST_MS = 6000;
const MAX_TOASTS = 3; // older ones stay in the notifications list

export function toast(title: string, body: string): void {
  const dismiss = h("button", { type: "button", "aria-label": `Dismiss: ${title}` }, "×");
  const item = h("div", { class: "toast" }, h("div", {}, h("strong", {}, title), h("div", {}, body)), dismiss);
  dismiss.addEventListener("click", () => item.remove());
  const shelf = byId("toasts");
  shelf.append(item);
  while (shelf.children.length > MAX_TOASTS) shelf.firstElementChild?.remove();
  setTimeout(() => item.remove(), TOAST_MS);
}
