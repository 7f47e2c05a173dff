import assert from "node:assert/strict";
import { test } from "node:test";
import { FitmintApiError, memoryTokenStore } from "@fitmint/sdk";
import { client, wallet } from "./support.js";

test("sign in with Ethereum, me, refresh, sign out: a signed-out token is refused", async () => {
  const member = wallet("member");
  const fm = client();
  const session = await fm.signIn(member);
  assert.equal(session.address, member.account!.address);
  assert.ok(session.userId && session.tenant);

  const me = await fm.me();
  assert.equal(me.address?.toLowerCase(), member.account!.address.toLowerCase());
  assert.equal(me.user_id, session.userId);
  assert.equal(me.tenant_id, session.tenant);
  assert.equal(me.role, "user");
  // A new member has no DIDComm connection and no credential yet (the identity agent answers through the API).
  assert.deepEqual(await fm.identity(), { connections: { data: [] }, credentials: { data: [] } });

  const refreshed = await fm.refresh();
  assert.notEqual(refreshed.accessToken, session.accessToken);
  assert.notEqual(refreshed.refreshToken, session.refreshToken);
  assert.equal(refreshed.userId, session.userId);
  assert.equal((await fm.me()).user_id, session.userId);

  // A request whose access token is refused refreshes the session once and is sent again.
  const store = memoryTokenStore({ ...refreshed, accessToken: "not-a-valid-token" });
  const resumed = client({ tokenStore: store });
  assert.equal((await resumed.me()).user_id, session.userId);
  const current = store.get()!;
  assert.notEqual(current.accessToken, "not-a-valid-token");

  await resumed.signOut();
  assert.equal(resumed.session(), null);
  // The signed-out session's tokens no longer work, and refreshing them is refused too.
  const stale = client({ tokenStore: memoryTokenStore(current) });
  await assert.rejects(stale.me(), (error: unknown) => {
    assert.ok(error instanceof FitmintApiError, String(error));
    assert.equal(error.status, 401);
    return true;
  });
  assert.equal(stale.session(), null, "a refused refresh ends the session in the store");
  // `fm` still holds the rotated-away pair of the same session: refused as well.
  await assert.rejects(fm.me(), (error: unknown) => error instanceof FitmintApiError && error.status === 401);
});
