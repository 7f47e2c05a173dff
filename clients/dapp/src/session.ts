// Who is using the page: the connected wallet and, once signed in, the member. Screens subscribe to
// changes instead of reaching into each other.
import type { ConnectedWallet } from "./wallet";

export interface Member {
  userId: string;
  tenant: string;
  role: string; // user, coach or admin: admins see the Analytics screen
}

interface State {
  wallet: ConnectedWallet | null;
  member: Member | null;
}

const state: State = { wallet: null, member: null };
const listeners = new Set<(state: Readonly<State>) => void>();

export function current(): Readonly<State> {
  return state;
}

export function update(change: Partial<State>): void {
  Object.assign(state, change);
  document.body.classList.toggle("has-wallet", state.wallet !== null);
  document.body.classList.toggle("has-session", state.member !== null);
  document.body.classList.toggle("is-admin", state.member?.role === "admin");
  for (const listener of listeners) listener(state);
}

export function onChange(listener: (state: Readonly<State>) => void): void {
  listeners.add(listener);
}

/** The connected wallet, or an error in words for a screen that needs one. */
export function requireWallet(): ConnectedWallet {
  if (!state.wallet) throw new Error("Connect your wallet first (Wallet screen).");
  return state.wallet;
}
