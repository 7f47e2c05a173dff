/**
 * The member's notifications: the inbox over HTTP, and live pushes over the API's WebSocket
 * (/notifications/ws). The socket authenticates with a first `auth` message (browsers cannot set headers),
 * and reconnects with exponential backoff and jitter; an expired token is refreshed before reconnecting.
 * Node 20 has no global WebSocket: pass one (e.g. the `ws` package) as Fitmint's `WebSocket` option.
 */
import type { Http } from "./http.js";
import type { TokenStore } from "./session.js";
import type { Notification, NotificationsPage } from "./types.js";

/** What the SDK needs of a WebSocket: the browser's, undici's or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type LiveStatus =
  | { state: "connecting"; attempt: number }
  | { state: "live"; unread: number }
  | { state: "reconnecting"; attempt: number; delayMs: number; reason: string }
  | { state: "closed"; reason: string };

export type LiveOptions = {
  onMessage: (notification: Notification) => void;
  onStatus?: (status: LiveStatus) => void;
  /** First reconnection delay (default 500 ms), doubled each failure up to maxDelayMs (default 30 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
};

export type LiveConnection = {
  close(): void;
  /** Marks notifications read over the socket. */
  markRead(ids: string[]): void;
};

// Close codes of the API's socket that reconnecting cannot fix, or that need a fresh token first.
const TOKEN_REFUSED = 4401;
const NOT_A_MEMBER = 4403;

export class Notifications {
  constructor(private readonly http: Http, private readonly tokens: TokenStore,
              private readonly WebSocketImpl: WebSocketConstructor | undefined) {}

  /** The inbox, newest first (`unread: true`: only the unread). */
  list(options: { unread?: boolean; limit?: number; cursor?: string } = {}): Promise<NotificationsPage> {
    return this.http.request<NotificationsPage>("GET", "/notifications", { auth: "required", query: options });
  }

  async markRead(ids: string[] | "all"): Promise<number> {
    const body = ids === "all" ? { all: true } : { ids };
    return (await this.http.request<{ updated: number }>("POST", "/notifications/read", { auth: "required", body })).updated;
  }

  /** Live notifications: every unread one first, then each new one as it is stored. */
  connect(options: LiveOptions): LiveConnection {
    const Socket = this.WebSocketImpl;
    if (!Socket) {
      throw new Error("no WebSocket here: pass one to new Fitmint({ WebSocket }) (in Node 20: the `ws` package)");
    }
    const url = this.http.url("/notifications/ws").replace(/^http/, "ws");
    const initialDelay = options.initialDelayMs ?? 500;
    const maxDelay = options.maxDelayMs ?? 30_000;
    let socket: WebSocketLike | null = null;
    let closed = false;
    let failures = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const status = (value: LiveStatus) => options.onStatus?.(value);

    const open = () => {
      const session = this.tokens.get();
      if (!session) {
        finish("not signed in");
        return;
      }
      status({ state: "connecting", attempt: failures + 1 });
      const current = new Socket(url);
      socket = current;
      current.onopen = () => current.send(JSON.stringify({ type: "auth", token: session.accessToken }));
      current.onmessage = (event) => {
        const message = JSON.parse(String(event.data)) as { type: string; unread?: number } & Notification;
        if (message.type === "ready") {
          failures = 0;
          status({ state: "live", unread: message.unread ?? 0 });
        } else if (message.type === "notification") {
          const { type: _, ...notification } = message;
          options.onMessage(notification as Notification);
        }
      };
      current.onerror = () => {};  // onclose follows, and decides
      current.onclose = (event) => {
        if (socket !== current || closed) return;
        socket = null;
        if (event.code === NOT_A_MEMBER) {
          finish(event.reason || "notifications are for signed-in members");
        } else if (event.code === TOKEN_REFUSED) {
          this.http.refresh(session).then(() => retry("token refreshed"), () => finish(`signed out: ${event.reason}`));
        } else {
          retry(event.reason || `closed (${event.code})`);
        }
      };
    };
    const retry = (reason: string) => {
      if (closed) return;
      failures += 1;
      const delayMs = Math.min(maxDelay, initialDelay * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
      status({ state: "reconnecting", attempt: failures, delayMs: Math.round(delayMs), reason });
      timer = setTimeout(open, delayMs);
    };
    const finish = (reason: string) => {
      closed = true;
      if (timer) clearTimeout(timer);
      const current = socket;
      socket = null;
      current?.close(1000, "closed by the client");
      status({ state: "closed", reason });
    };
    open();
    return {
      close: () => {
        if (!closed) finish("closed by the client");
      },
      markRead: (ids) => socket?.send(JSON.stringify({ type: "read", ids })),
    };
  }
}
