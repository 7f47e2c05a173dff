// The FIT balance and the wallet's history (transfers, rewards, orders, items), as of the indexed block.
import { balance, describeError, fit, history } from "../platform";
import { current } from "../session";
import { busy, byId, h, replace, shortHex, shortId, table, type Child } from "../ui/dom";
import { announce } from "../ui/status";

export function setUpBalance(): void {
  const button = byId<HTMLButtonElement>("refresh-balance");
  button.addEventListener("click", () => void busy(button, refreshBalance));
}

let latest = 0; // refreshes may overlap: only the newest one's answer is shown

export async function refreshBalance(): Promise<void> {
  const wallet = current().wallet;
  if (!wallet) return;
  const ticket = ++latest;
  try {
    const [held, past] = await Promise.all([balance(wallet.address), history(wallet.address)]);
    if (ticket !== latest) return;
    byId("fit-balance").textContent = fit(held.balance);
    byId("balance-block").textContent = held.block === null ? "(nothing indexed yet)" : `as of block ${held.block}`;
    byId("fit-balance").dataset.wei = String(held.balance);
    byId("fit-balance").dataset.block = String(held.block ?? "");
    byId("history-block").textContent = past.block === null ? "" : `History as of block ${past.block}.`;
    const me = wallet.address.toLowerCase();
    fill("history-transfers", "FIT transfers", ["Block", "Direction", "Amount", "Counterparty", "Transaction"],
      past.transfers.map((t) => {
        const incoming = t.to.toLowerCase() === me;
        return [t.block, incoming ? "in" : "out", fit(t.value), counterparty(incoming ? t.from : t.to, incoming),
          shortHex(t.txHash)];
      }),
      "No FIT transfers yet.");
    fill("history-claims", "Rewards claimed", ["Block", "Kind", "Amount", "Transaction"],
      past.claims.map((c) => [c.block, c.kind, fit(c.amount), shortHex(c.txHash)]), "No rewards claimed yet.");
    fill("history-orders", "Orders", ["Order", "Block", "Item", "Quantity", "Unit price", "Fee", "Burned"],
      past.orders.map((o) => [`#${o.orderId}`, o.block, shortId(o.itemId), o.quantity, fit(o.unitPrice), fit(o.fee),
        fit(o.burned)]), "No orders yet.");
    fill("history-items", "Items you hold", ["Item", "Quantity"], past.items.map((i) => [shortId(i.itemId), i.quantity]),
      "No items yet.");
  } catch (error) {
    announce(describeError(error), "error");
  }
}

const ZERO_ADDRESS = /^0x0{40}$/i;

/** Who the FIT came from or went to; the zero address means minted (in) or burned (out). */
function counterparty(address: string, incoming: boolean): Child {
  if (ZERO_ADDRESS.test(address)) return incoming ? "minted" : "burned";
  return shortHex(address);
}

function fill(id: string, caption: string, columns: string[], rows: Child[][], empty: string): void {
  replace(byId(id), rows.length ? table(caption, columns, rows) : h("p", { class: "empty" }, empty));
}
