// Notifications: the inbox, kept up to date live over the WebSocket (a toast for each new one).
import { describeError, liveNotifications, markNoticesRead, recentNotifications, type LiveFeed,
  type LiveState, type Notice } from "../platform";
import { currentScreen } from "../ui/router";
import { byId, h, replace } from "../ui/dom";
import { announce, toast } from "../ui/status";

const STATE_WORDS: Record<LiveState, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  closed: "not connected",
};

let feed: LiveFeed | null = null;
const shown = new Map<string, Notice>();

/** Starts (or restarts) the live feed for the signed-in member; `null` stops it (signed out). */
export async function followNotifications(signedIn: boolean): Promise<void> {
  feed?.close();
  feed = null;
  shown.clear();
  render();
  if (!signedIn) return;
  try {
    for (const notice of await recentNotifications()) shown.set(notice.id, notice);
    render();
    if (currentScreen() === "notifications") void markSeen();
  } catch (error) {
    announce(describeError(error), "error");
  }
  feed = liveNotifications(arrived, (state, detail) => {
    byId("live-state").textContent = detail ? `${STATE_WORDS[state] ?? state} (${detail})` : STATE_WORDS[state] ?? state;
  });
}

function arrived(notice: Notice): void {
  const known = shown.has(notice.id);
  shown.set(notice.id, notice);
  render();
  if (!known && !notice.read) toast(notice.title, notice.body);
  if (currentScreen() === "notifications") void markSeen();
}

/** What the member has on screen counts as read (the list keeps showing it, without the "new" mark). */
export async function markSeen(): Promise<void> {
  const unread = [...shown.values()].filter((n) => !n.read);
  if (!unread.length) return;
  try {
    await markNoticesRead(unread.map((n) => n.id));
    for (const n of unread) shown.set(n.id, { ...n, read: true });
    render();
  } catch (error) {
    announce(describeError(error), "error");
  }
}

function render(): void {
  const notices = [...shown.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const list = byId("notification-list");
  if (!notices.length) replace(list, h("li", { class: "empty" }, "No notifications yet."));
  else replace(list, ...notices.map((n) => h("li", { "data-kind": n.kind, "data-id": n.id, class: n.read ? "" : "unread" },
    n.read ? null : h("span", { class: "new" }, "New: "), h("strong", {}, n.title), h("div", {}, n.body),
    h("div", { class: "when" }, new Date(n.createdAt).toLocaleString()))));
  const unread = notices.filter((n) => !n.read).length;
  const badge = byId("unread-badge");
  badge.hidden = unread === 0;
  replace(badge, String(unread), h("span", { class: "visually-hidden" }, " unread"));
}
