import assert from "node:assert/strict";
import { test } from "node:test";
import { getAddress } from "viem";
import { FitmintChainError, parseFit, type Listing } from "@fitmint/sdk";
import { client, earn, fixtureListing, wallet } from "./support.js";

test("listings show the catalog item; quote, buy with a permit, then the order and the items are indexed", async () => {
  const buyer = wallet("buyer");
  const address = buyer.account!.address;
  const fm = client();
  await fm.signIn(buyer);
  await earn(fm, buyer);

  const page = await fm.listings({ kind: "primary", sort: "newest", limit: 200 });
  const listed = page.data.find((l) => l.listing_id === fixtureListing.listing_id) as Listing | undefined;
  assert.ok(listed, `listing ${fixtureListing.listing_id} is among the open listings`);
  assert.equal(listed.unit_price, parseFit("1.5"));
  assert.equal(listed.remaining, 5n);
  assert.equal(listed.status, "open");
  assert.equal(listed.seller, getAddress(listed.seller), "addresses are checksummed");
  assert.equal(listed.item_id, fixtureListing.item_id);
  assert.equal(listed.item?.name, fixtureListing.name);
  assert.equal(listed.item?.image, fixtureListing.image_cid);
  assert.equal(listed.item?.image_url, `/catalog/images/${fixtureListing.image_cid}`);
  const image = await fetch(fm.url(listed.item!.image_url!));
  assert.equal(image.status, 200);
  assert.equal(image.headers.get("content-type"), "image/png");

  const quote = await fm.quote(listed.listing_id, { buyer: address, quantity: 2 });
  assert.equal(quote.total, parseFit("3"));
  assert.equal(quote.fee + quote.burned + quote.seller_receives, quote.total);
  assert.equal(quote.buyer_balance, parseFit("50"));
  assert.equal(quote.permit.message["owner"], getAddress(address));

  const purchase = await fm.buyWithPermit(buyer, { listingId: listed.listing_id, quantity: 2, quote });
  assert.ok(purchase.orderId > 0n);
  await fm.waitForIndexed(purchase.blockNumber);

  const orders = await fm.orders(address);
  assert.deepEqual(orders.data.map((o) => [BigInt(o["order_id"] as number), o["listing_id"], o["quantity"],
    o["unit_price"], o["tx_hash"]]),
    [[purchase.orderId, fixtureListing.listing_id, 2n, parseFit("1.5"), purchase.txHash]]);
  const items = await fm.items(address);
  assert.deepEqual(items.data, [{ item_id: BigInt(fixtureListing.item_id), quantity: 2n }]);
  assert.equal((await fm.balance(address)).balance, parseFit("47"));
  assert.equal((await fm.listing(listed.listing_id)).remaining, 3n);
});

test("a stale quote: the seller raised the price before the purchase, which is refused and said in words", async () => {
  const seller = wallet("seller");
  const buyer = wallet("late-buyer");
  const sellerApp = client();
  const buyerApp = client();
  await Promise.all([sellerApp.signIn(seller), buyerApp.signIn(buyer)]);
  await Promise.all([earn(sellerApp, seller), earn(buyerApp, buyer)]);

  // The seller buys 2 of the catalog item and puts 1 up for resale at 2 FIT.
  await sellerApp.buyWithPermit(seller, { listingId: fixtureListing.listing_id, quantity: 2 });
  const resale = await sellerApp.listForResale(seller, { itemId: BigInt(fixtureListing.item_id), quantity: 1,
    unitPrice: parseFit("2") });
  await sellerApp.waitForIndexed(resale.blockNumber);
  const mine = await sellerApp.walletListings(seller.account!.address, { status: "open" });
  assert.deepEqual(mine.data.map((l) => [l.listing_id, l.kind, l.seller, l.unit_price, l.remaining]),
    [[Number(resale.listingId), "resale", seller.account!.address, parseFit("2"), 1n]]);

  const quote = await buyerApp.quote(resale.listingId, { buyer: buyer.account!.address, quantity: 1 });
  assert.equal(quote.unit_price, parseFit("2"));
  await sellerApp.updatePrice(seller, resale.listingId, parseFit("2.5"));

  await assert.rejects(buyerApp.buyWithPermit(buyer, { listingId: resale.listingId, quantity: 1, quote }),
    (error: unknown) => {
      assert.ok(error instanceof FitmintChainError, String(error));
      assert.equal(error.errorName, "MarketPriceAboveLimit");
      assert.equal(buyerApp.describeError(error), `The price went up since your quote: listing ${resale.listingId} ` +
        "now costs 2.5 FIT each and the quote allowed at most 2 FIT. Ask for a new quote.");
      return true;
    });
  // A new quote at the new price goes through.
  const bought = await buyerApp.buyWithPermit(buyer, { listingId: resale.listingId, quantity: 1 });
  assert.equal(bought.quote.unit_price, parseFit("2.5"));
  await sellerApp.waitForIndexed(bought.blockNumber);
  const sold = await sellerApp.orders(seller.account!.address, { role: "seller" });
  assert.deepEqual(sold.data.map((o) => [BigInt(o["order_id"] as number), o["buyer"], o["unit_price"]]),
    [[bought.orderId, buyer.account!.address, parseFit("2.5")]]);
});
