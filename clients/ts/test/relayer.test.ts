import assert from "node:assert/strict";
import { test } from "node:test";
import { FitmintApiError } from "@fitmint/sdk";
import { aRun, client, earn, gaslessListing, wallet } from "./support.js";

const LIVE = ["waiting", "batched", "sent", "mined"];

test("gasless: the platform claims a voucher and buys for a wallet that only signs", async () => {
  const member = wallet("gasless");
  const address = member.account!.address;
  const fm = client();
  await fm.signIn(member);

  const voucher = await fm.requestVoucher((await fm.recordWorkout(aRun(6))).id);
  const relay = await fm.relayVoucher(voucher);
  assert.equal(relay.kind, "claim");
  assert.equal(relay.claim_id, voucher.claim_id);
  assert.ok(LIVE.includes(relay.state), `${relay.state}: ${relay.reason}`);
  assert.equal((await fm.relayVoucher(voucher.claim_id)).id, relay.id);  // asked again: the same relay
  const read = await fm.relay(relay.id);
  assert.ok(LIVE.includes(read.state), `${read.state}: ${read.reason}`);
  if (read.state === "mined") assert.match(read.tx_hash!, /^0x[0-9a-f]{64}$/);

  // FIT the wallet's own way (relays are mined only where a transaction queue worker runs), then a purchase
  // the wallet only signs: the quote's intent and permit.
  await earn(fm, member);
  const quote = await fm.quote(gaslessListing.listing_id, { buyer: address, quantity: 1 });
  const bought = await fm.buyGasless(member, { listingId: gaslessListing.listing_id, quantity: 1, quote });
  assert.equal(bought.kind, "purchase");
  assert.equal(bought.buyer, address.toLowerCase());
  assert.equal(bought.intent_nonce, quote.intent.message.nonce);
  assert.ok(LIVE.includes(bought.state), `${bought.state}: ${bought.reason}`);
  assert.equal((await fm.buyGasless(member, { listingId: gaslessListing.listing_id, quantity: 1, quote })).id, bought.id);

  // The same nonce with another intent (a new quote while the first is not mined, or a replay): refused in words.
  const other = { ...quote, intent: { ...quote.intent, message: { ...quote.intent.message, quantity: "2" } } };
  await assert.rejects(fm.buyGasless(member, { listingId: gaslessListing.listing_id, quantity: 2, quote: other }),
    (error: unknown) => error instanceof FitmintApiError && error.status >= 400 && error.status < 500);
});
