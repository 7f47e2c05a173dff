// Unit tests of the SDK's own resilience, with a fake server where the real one cannot be made to do it
// on demand (rate limits shared by everyone on the stack, a dropped socket): waiting out a 429's
// Retry-After, and the live connection's reconnection with backoff.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Fitmint, FitmintApiError, memoryTokenStore, type LiveStatus, type Notification,
  type WebSocketLike } from "@fitmint/sdk";

function answers(...responses: (() => Response)[]): typeof fetch {
  return async () => {
    const next = responses.shift();
    if (!next) throw new Error("no more answers");
    return next();
  };
}
const tooMany = (retryAfter: string) => () => new Response(JSON.stringify({ detail: "too many requests; retry later" }),
  { status: 429, headers: { "Retry-After": retryAfter } });
const nonce = () => new Response(JSON.stringify({ nonce: "n0nce", expires_at: "2030-01-01T00:00:00Z" }), { status: 200 });

test("a 429 is waited out for its Retry-After, then the request is sent again", async () => {
  const fm = new Fitmint({ apiUrl: "http://api.test", fetch: answers(tooMany("1"), nonce) });
  const started = Date.now();
  assert.deepEqual(await fm.http.request("POST", "/auth/nonce"), { nonce: "n0nce", expires_at: "2030-01-01T00:00:00Z" });
  assert.ok(Date.now() - started >= 950, "waited the second Retry-After asked for");
});

test("a 429 asking for longer than the SDK waits, or repeated past its retries, is thrown in words", async () => {
  const patient = new Fitmint({ apiUrl: "http://api.test", fetch: answers(tooMany("120"), nonce) });
  await assert.rejects(patient.http.request("POST", "/auth/nonce"), (error: unknown) =>
    error instanceof FitmintApiError && error.status === 429 && patient.describeError(error) === "too many requests; retry later");
  const stubborn = new Fitmint({ apiUrl: "http://api.test", rateLimitRetries: 2,
    fetch: answers(tooMany("0"), tooMany("0"), tooMany("0"), nonce) });
  await assert.rejects(stubborn.http.request("POST", "/auth/nonce"), (error: unknown) =>
    error instanceof FitmintApiError && error.status === 429);
});

class FakeSocket implements WebSocketLike {
  static opened: FakeSocket[] = [];
  static script: ((socket: FakeSocket) => void)[] = [];
  readyState = 0;
  sent: string[] = [];
  closedByClient = false;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.opened.push(this);
    const play = FakeSocket.script.shift();
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.({});
      play?.(this);
    }, 1);
  }
  send(data: string) { this.sent.push(data); }
  close() { this.closedByClient = true; }
  push(message: object) { this.onmessage?.({ data: JSON.stringify(message) }); }
  drop(code: number, reason: string) { this.onclose?.({ code, reason }); }
}

const signedIn = () => memoryTokenStore({ accessToken: "access-1", refreshToken: "refresh-1", userId: "u1", tenant: "t1",
  address: null });
const notification = { id: "n1", kind: "reward.claimed", title: "Reward claimed: 50 FIT", body: "...", data: {},
  corrects: null, created_at: "2030-01-01T00:00:00Z", read: false };

test("live notifications: a dropped socket reconnects after a backoff, authenticates again, and goes on", async () => {
  FakeSocket.opened = [];
  FakeSocket.script = [(s) => s.drop(1006, "connection lost"),
    (s) => { s.push({ type: "ready", unread: 1 }); s.push({ type: "notification", ...notification }); }];
  const fm = new Fitmint({ apiUrl: "http://api.test", tokenStore: signedIn(), WebSocket: FakeSocket });
  const statuses: LiveStatus[] = [];
  const received = await new Promise<Notification>((resolve) => {
    fm.notifications.connect({ onMessage: resolve, onStatus: (s) => statuses.push(s), initialDelayMs: 20 });
  });
  assert.deepEqual(received, notification);
  assert.deepEqual(statuses.map((s) => s.state), ["connecting", "reconnecting", "connecting", "live"]);
  const reconnecting = statuses[1] as Extract<LiveStatus, { state: "reconnecting" }>;
  assert.equal(reconnecting.reason, "connection lost");
  assert.ok(reconnecting.delayMs >= 10 && reconnecting.delayMs <= 20, String(reconnecting.delayMs));
  assert.equal(FakeSocket.opened.length, 2);
  for (const socket of FakeSocket.opened) {
    assert.equal(socket.url, "ws://api.test/notifications/ws");
    assert.deepEqual(JSON.parse(socket.sent[0]!), { type: "auth", token: "access-1" });
  }
});

test("live notifications: a refusal reconnecting cannot fix, or close(), ends the connection for good", async () => {
  FakeSocket.opened = [];
  FakeSocket.script = [(s) => s.drop(4403, "notifications are for signed-in members, not services")];
  const fm = new Fitmint({ apiUrl: "http://api.test", tokenStore: signedIn(), WebSocket: FakeSocket });
  const closed = await new Promise<LiveStatus>((resolve) => {
    fm.notifications.connect({ onMessage: () => {}, onStatus: (s) => s.state === "closed" && resolve(s), initialDelayMs: 5 });
  });
  assert.deepEqual(closed, { state: "closed", reason: "notifications are for signed-in members, not services" });

  FakeSocket.script = [(s) => s.push({ type: "ready", unread: 0 })];
  const statuses: string[] = [];
  const live = fm.notifications.connect({ onMessage: () => {}, onStatus: (s) => statuses.push(s.state), initialDelayMs: 5 });
  await new Promise((resolve) => setTimeout(resolve, 30));
  live.close();
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.deepEqual(statuses, ["connecting", "live", "closed"]);
  assert.equal(FakeSocket.opened.length, 2);
  assert.ok(FakeSocket.opened[1]!.closedByClient);
});

test("without a WebSocket (Node 20 has none) connecting says what to pass", () => {
  const fm = new Fitmint({ apiUrl: "http://api.test", tokenStore: signedIn() });
  assert.throws(() => fm.notifications.connect({ onMessage: () => {} }), /pass one to new Fitmint\(\{ WebSocket \}\)/);
});
