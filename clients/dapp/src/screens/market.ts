// The marketplace: open listings with their catalog image, a quote (total, fee, burned) and a purchase
// with a permit at that quote: the wallet signs the permit, then sends the purchase.
import { buy, describeError, fit, openListings, quote, type Listing, type ListingSort,
  type Quote } from "../platform";
import { current, requireWallet } from "../session";
import { busy, byId, h, replace } from "../ui/dom";
import { announce } from "../ui/status";

let onBought: () => void = () => {};

export function setUpMarket(bought: () => void): void {
  onBought = bought;
  const refresh = byId<HTMLButtonElement>("refresh-market");
  refresh.addEventListener("click", () => void busy(refresh, refreshMarket));
  byId<HTMLSelectElement>("market-sort").addEventListener("change", () => void refreshMarket());
}

let latest = 0; // refreshes may overlap: only the newest one's answer is shown

export async function refreshMarket(): Promise<void> {
  const ticket = ++latest;
  try {
    const { listings, block } = await openListings(byId<HTMLSelectElement>("market-sort").value as ListingSort);
    if (ticket !== latest) return;
    byId("market-block").textContent = block === null ? "" : `Open listings as of block ${block}.`;
    const list = byId("listings");
    if (!listings.length) replace(list, h("li", { class: "empty" }, "Nothing for sale right now."));
    else replace(list, ...listings.map(card));
  } catch (error) {
    announce(describeError(error), "error");
  }
}

function card(listing: Listing): HTMLLIElement {
  const id = `listing-${listing.listingId}`;
  const quantity = h("input", { id: `${id}-quantity`, type: "number", min: 1, max: String(listing.remaining), step: 1,
    value: 1, inputmode: "numeric" });
  const quoteButton = h("button", { type: "button", class: "secondary", "aria-label": `Get a quote for ${listing.name}` },
    "Get quote");
  const panel = h("div", { id: `${id}-quote`, class: "quote-panel" });
  quoteButton.addEventListener("click", () => void busy(quoteButton, () => showQuote(listing, quantity, panel)));
  const image = listing.imageUrl
    ? h("img", { src: listing.imageUrl, alt: listing.name, width: 320, height: 160, loading: "lazy" })
    : h("div", { class: "no-image" }, "No image");
  return h("li", { class: "listing", id, "data-listing-id": listing.listingId },
    image,
    h("h3", {}, listing.name),
    listing.description ? h("p", {}, listing.description) : null,
    h("p", { class: "price" }, `${fit(listing.unitPrice)} each`),
    h("p", {}, `${listing.remaining} left`, listing.kind === "resale" ? " (resale)" : ""),
    h("div", { class: "field" }, h("label", { for: quantity.id }, `Quantity of ${listing.name}`), quantity),
    h("div", { class: "actions" }, quoteButton),
    panel);
}

async function showQuote(listing: Listing, quantityInput: HTMLInputElement, panel: HTMLElement): Promise<void> {
  const wallet = current().wallet;
  if (!wallet) {
    replace(panel, h("p", { class: "error" }, "Connect your wallet first (Wallet screen): the quote is for your address."));
    return;
  }
  const quantity = Number(quantityInput.value);
  if (!Number.isInteger(quantity) || quantity < 1) {
    replace(panel, h("p", { class: "error" }, "Give a whole number of items, at least 1."));
    return;
  }
  try {
    const offer = await quote(listing.listingId, wallet.address, quantity);
    const confirm = h("button", { type: "button", "aria-label": `Buy ${quantity} ${listing.name} for ${fit(offer.total)}` },
      "Sign permit and buy");
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    confirm.addEventListener("click", () => void busy(confirm, () => purchase(listing, offer, panel)));
    cancel.addEventListener("click", () => replace(panel));
    const short = offer.buyerBalance < offer.total;
    replace(panel, h("dl", { class: "details quote" },
      h("dt", {}, "Total"), h("dd", { "data-field": "total" }, fit(offer.total)),
      h("dt", {}, "Fee"), h("dd", { "data-field": "fee" }, fit(offer.fee)),
      h("dt", {}, "Burned"), h("dd", { "data-field": "burned" }, fit(offer.burned)),
      h("dt", {}, "Seller receives"), h("dd", {}, fit(offer.sellerReceives)),
      h("dt", {}, "Your balance"), h("dd", {}, fit(offer.buyerBalance))),
    short ? h("p", { class: "error" }, `Your balance is ${fit(offer.total - offer.buyerBalance)} short of the total.`) : null,
    h("div", { class: "actions" }, confirm, cancel));
    confirm.disabled = short;
    announce(`Quote for ${quantity} ${listing.name}: ${fit(offer.total)} in total.`);
  } catch (error) {
    replace(panel, h("p", { class: "error" }, describeError(error)));
    announce(describeError(error), "error");
  }
}

async function purchase(listing: Listing, offer: Quote, panel: HTMLElement): Promise<void> {
  try {
    announce("Sign the permit, then confirm the purchase, in your wallet.");
    const bought = await buy(requireWallet().client, offer);
    replace(panel, h("div", { class: "result ok", "data-order-id": bought.orderId },
      h("p", {}, `Bought: order #${bought.orderId}, ${offer.quantity} ${listing.name} for ${fit(offer.total)} `
        + `(block ${bought.blockNumber}).`),
      h("p", {}, h("a", { href: "#balance" }, "See your orders"))));
    announce(`Order #${bought.orderId} done: ${offer.quantity} ${listing.name}.`, "success");
    onBought();
  } catch (error) {
    const words = describeError(error);
    panel.append(h("p", { class: "error" }, words));
    announce(words, "error");
  }
}
