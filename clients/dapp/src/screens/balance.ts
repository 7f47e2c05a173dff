// The FIT balance and the wallet's history (transfers, rewards, orders, items), as of the indexed block.
import { balance, describeError, fit, history } from "../platform";
import { current } from "../session";
import { busy, byId, h, replace, shortHex, table, type Child } from "../ui/dom";
import { announce } from "../ui/status";

export function setUpBalance(): void {
  const button = byId<HTMLButtonElement>("refresh-balance");
  button.addEventListener("click", () => void busy(button, refreshBalance));
}

export async function refreshBalance(): Promise<void> {
  const wallet = current().wallet;
  if (!wallet) return;
  try {
    const [held, past] = await Promise.all([balance(wallet.address), history(wallet.address)]);
    byId("fit-balance").textContent = fit(held.balance);
    byId("balance-block").textContent = held.block === null ? "(nothing indexed yet)" : `as of block ${held.block}`;
    byId("fit-balance").dataset.wei = String(held.balance);
    byId("fit-balance").dataset.block = String(held.block ?? "");
    byId("history-block").textContent = past.block === null ? "" : `History as of block ${past.block}.`;
    const me = wallet.address.toLowerCase();
    fill("history-transfers", "FIT transfers", ["Block", "Direction", "Amount", "Counterparty", "Transaction"],
      past.transfers.map((t) => [t.block, t.to.toLowerCase() === me ? "in" : "out", fit(t.value),
        shortHex(t.to.toLowerCase() === me ? t.from : t.to), shortHex(t.txHash)]),
      "No FIT transfers yet.");
    fill("history-claims", "Rewards claimed", ["Block", "Kind", "Amount", "Transaction"],
      past.claims.map((c) => [c.block, c.kind, fit(c.amount), shortHex(c.txHash)]), "No rewards claimed yet.");
    fill("history-orders", "Orders", ["Order", "Block", "Item", "Quantity", "Unit price", "Fee", "Burned"],
      past.orders.map((o) => [`#${o.orderId}`, o.block, o.itemId, o.quantity, fit(o.unitPrice), fit(o.fee),
        fit(o.burned)]), "No orders yet.");
    fill("history-items", "Items you hold", ["Item", "Quantity"], past.items.map((i) => [i.itemId, i.quantity]),
      "No items yet.");
  } catch (error) {
    announce(describeError(error), "error");
  }
}

function fill(id: string, caption: string, columns: string[], rows: Child[][], empty: string): void {
  replace(byId(id), rows.length ? table(caption, columns, rows) : h("p", { class: "empty" }, empty));
}
