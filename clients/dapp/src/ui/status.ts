// What the page tells the member: the status line (an aria-live region, for the outcome of what they
// just did) and toasts for notifications arriving live (their own polite log region).
import { byId, h } from "./dom";

export type Tone = "info" | "success" | "error";

export function announce(text: string, tone: Tone = "info"): void {
  const region = byId("status");
  region.dataset.tone = tone;
  region.textContent = text;
}

const TOAST_MS = 8000;

export function toast(title: string, body: string): void {
  const item = h("div", { class: "toast" }, h("strong", {}, title), h("div", {}, body));
  byId("toasts").append(item);
  setTimeout(() => item.remove(), TOAST_MS);
}
