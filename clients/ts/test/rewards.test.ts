import assert from "node:assert/strict";
import { test } from "node:test";
import { FitmintChainError, type Notification } from "@fitmint/sdk";
import { aRun, client, wallet, waitFor } from "./support.js";

test("a workout earns FIT: voucher, the wallet's claim, the indexed balance and claim, a live notification", async (t) => {
  const member = wallet("earner");
  const address = member.account!.address;
  const fm = client();
  await fm.signIn(member);

  // Live notifications first, so the claim's is pushed (not read back from the inbox).
  const pushed: Notification[] = [];
  let onPush: ((n: Notification) => void) | null = null;
  const live = await waitFor<ReturnType<typeof fm.notifications.connect>>("the live connection", 10_000, (ready) => {
    const connection = fm.notifications.connect({
      onMessage: (notification) => {
        pushed.push(notification);
        onPush?.(notification);
      },
      onStatus: (status) => {
        if (status.state === "live") ready(connection);
      },
    });
  });
  t.after(() => live.close());

  const workout = await fm.recordWorkout(aRun());
  assert.equal(workout.status, "accepted");
  assert.deepEqual(workout.reasons, []);

  const voucher = await fm.requestVoucher(workout.id);
  assert.equal(voucher.workout_id, workout.id);
  assert.equal(voucher.account, address);
  assert.equal(voucher.amount, 50n * 10n ** 18n);
  assert.equal(voucher.status, "issued");

  const claimed = waitFor<Notification>("the reward.claimed notification", 30_000, (resolve) => {
    const match = (n: Notification) => n.kind === "reward.claimed" && n.data["claimId"] === voucher.claim_id;
    const already = pushed.find(match);
    if (already) resolve(already);
    onPush = (n) => match(n) && resolve(n);
  });
  const claim = await fm.claimVoucher(member, voucher);
  assert.match(claim.txHash, /^0x[0-9a-f]{64}$/);

  await fm.waitForIndexed(claim.blockNumber);
  const balance = await fm.balance(address);
  assert.equal(balance.balance, voucher.amount);
  assert.ok(BigInt(balance.block!) >= claim.blockNumber);
  assert.equal(balance.address, address);

  const claims = await fm.claims(address);
  assert.deepEqual(claims.data.map((c) => [c["claim_id"], c["amount"], c["tx_hash"], BigInt(c["block"] as number)]),
    [[voucher.claim_id, voucher.amount, claim.txHash, claim.blockNumber]]);

  const notification = await claimed;
  assert.equal(notification.data["txHash"], claim.txHash);
  assert.match(notification.title, /Reward claimed: 50 FIT/);
  const inbox = await fm.notifications.list();
  assert.ok(inbox.data.some((n) => n.id === notification.id), "the pushed notification is in the inbox too");

  // The contract refuses a second claim of the same voucher, and a voucher altered after signing.
  await assert.rejects(fm.claimVoucher(member, voucher), (error: unknown) => {
    assert.ok(error instanceof FitmintChainError, String(error));
    assert.equal(error.errorName, "RewardsClaimAlreadyPaid");
    assert.match(fm.describeError(error), /already claimed/);
    return true;
  });
  // A claim id the API never issues (it issues them in sequence from 1), so only the signature can refuse it.
  const inflated = { ...voucher, claim_id: `0x${"ab".repeat(32)}`, amount: voucher.amount * 2n };
  await assert.rejects(fm.claimVoucher(member, inflated), (error: unknown) => {
    assert.ok(error instanceof FitmintChainError, String(error));
    assert.equal(error.errorName, "RewardsUnauthorizedAttestor");
    assert.match(fm.describeError(error), /not a fitmint attestor's .*altered or is not genuine/);
    return true;
  });
});

test("a refused workout comes back with the reasons the anti-cheat rules give", async () => {
  const fm = client();
  await fm.signIn(wallet("cheater"));
  const workout = await fm.recordWorkout(aRun(5, { distance_m: 60_000, steps: 54_000 }));  // 120 km/h on foot
  assert.equal(workout.status, "rejected");
  assert.ok(workout.rejections.some((r) => r.code === "too_fast"), JSON.stringify(workout.rejections));
  assert.ok(workout.reasons.some((reason) => /average speed 120 km\/h is implausible/.test(reason)), workout.reasons.join("; "));
});
