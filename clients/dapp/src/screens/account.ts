// Wallet and sign-in: connect the browser wallet, get it onto the platform's chain, sign in with Ethereum.
import type { EIP1193Provider } from "viem";
import { describeError, platformChain, signIn, signOut, type PlatformChainInfo } from "../platform";
import { current, update } from "../session";
import { byId, busy } from "../ui/dom";
import { announce } from "../ui/status";
import { browserWallet, connect, switchToPlatformChain } from "../wallet";

const connectButton = () => byId<HTMLButtonElement>("connect-wallet");
const switchButton = () => byId<HTMLButtonElement>("switch-chain");
const signInButton = () => byId<HTMLButtonElement>("sign-in");
const signOutButton = () => byId<HTMLButtonElement>("sign-out");

export function setUpAccount(chain: Promise<PlatformChainInfo>): void {
  const provider = browserWallet();
  if (!provider) {
    byId("wallet-missing").hidden = false;
    connectButton().disabled = true;
    return;
  }
  connectButton().addEventListener("click", () => void busy(connectButton(), () => connectWallet(provider, chain)));
  switchButton().addEventListener("click", () => void busy(switchButton(), () => switchChain(provider, chain)));
  signInButton().addEventListener("click", () => void busy(signInButton(), signInWithWallet));
  signOutButton().addEventListener("click", () => void busy(signOutButton(), signOutMember));
  // The wallet may change account or network behind the page's back: follow it.
  const follow = () => {
    if (current().wallet) void connectWallet(provider, chain, { followingWallet: true });
  };
  provider.on("accountsChanged", follow);
  provider.on("chainChanged", follow);
}

async function connectWallet(provider: EIP1193Provider, chain: Promise<PlatformChainInfo>,
                             { followingWallet = false } = {}): Promise<void> {
  try {
    const platform = await chain;
    const wallet = await connect(provider, platform);
    const before = current();
    const sameAccount = before.wallet?.address.toLowerCase() === wallet.address.toLowerCase();
    update({ wallet, member: sameAccount ? before.member : null });
    render(platform);
    if (wallet.chainId !== platform.id && followingWallet) {
      announce(`Your wallet is now on chain ${wallet.chainId}; fitmint runs on chain ${platform.id}: switch back to go on.`,
        "error");
    } else if (wallet.chainId !== platform.id) {
      announce(`Your wallet is on chain ${wallet.chainId}; fitmint runs on chain ${platform.id}. Asking your wallet to switch.`);
      await switchChain(provider, chain);
    } else if (!followingWallet) {
      announce(`Wallet connected: ${wallet.address}.`, "success");
    }
  } catch (error) {
    announce(describeError(error), "error");
  }
}

async function switchChain(provider: EIP1193Provider, chain: Promise<PlatformChainInfo>): Promise<void> {
  try {
    const platform = await chain;
    await switchToPlatformChain(provider, platform);
    const wallet = await connect(provider, platform);
    update({ wallet });
    render(platform);
    announce(wallet.chainId === platform.id ? `Wallet switched to chain ${platform.id}.`
      : `Your wallet is still on chain ${wallet.chainId}: switch it to chain ${platform.id} to go on.`,
    wallet.chainId === platform.id ? "success" : "error");
  } catch (error) {
    announce(describeError(error), "error");
  }
}

async function signInWithWallet(): Promise<void> {
  const wallet = current().wallet;
  if (!wallet) return;
  try {
    announce("Sign the message in your wallet to sign in.");
    const member = await signIn(wallet.client);
    update({ member });
    render(await platformChain());
    announce(`Signed in as ${wallet.address}.`, "success");
  } catch (error) {
    announce(describeError(error), "error");
  }
}

async function signOutMember(): Promise<void> {
  try {
    await signOut();
  } catch (error) {
    announce(describeError(error), "error");
  } finally {
    update({ member: null });
    render(await platformChain());
    announce("Signed out.");
  }
}

function render(platform: PlatformChainInfo): void {
  const { wallet, member } = current();
  const onChain = wallet !== null && wallet.chainId === platform.id;
  byId("wallet-details").hidden = wallet === null;
  byId("wallet-address").textContent = wallet?.address ?? "";
  byId("wallet-chain").textContent = wallet === null ? "" : onChain ? `fitmint, chain ${platform.id}`
    : `chain ${wallet.chainId}: not fitmint's (chain ${platform.id})`;
  byId("session-state").textContent = member ? `Yes, as member ${member.userId}` : "No";
  connectButton().textContent = wallet ? "Reconnect wallet" : "Connect wallet";
  switchButton().hidden = wallet === null || onChain;
  signInButton().disabled = !onChain || member !== null;
  signInButton().hidden = member !== null;
  signOutButton().hidden = member === null;
  byId("account-summary").textContent = wallet === null ? "Wallet not connected"
    : `${wallet.address.slice(0, 6)}…${wallet.address.slice(-4)} on chain ${wallet.chainId}${member ? ", signed in" : ""}`;
}
