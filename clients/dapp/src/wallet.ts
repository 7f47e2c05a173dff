// The member's browser wallet (EIP-1193 `window.ethereum`) as a viem WalletClient: connecting, the
// network it is on, and asking it to switch to (or first add) the platform's chain.
import { createWalletClient, custom, numberToHex, type Address, type Chain, type EIP1193Provider,
  type WalletClient } from "viem";

export interface PlatformChain {
  id: number;
  rpcUrl: string;
}

export interface ConnectedWallet {
  client: WalletClient;
  address: Address;
  chainId: number;
}

export function browserWallet(): EIP1193Provider | undefined {
  return (window as { ethereum?: EIP1193Provider }).ethereum;
}

function viemChain(chain: PlatformChain): Chain {
  return {
    id: chain.id,
    name: `fitmint (chain ${chain.id})`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [chain.rpcUrl] } },
  };
}

/** Asks the wallet for its account (the wallet shows its own prompt). */
export async function connect(provider: EIP1193Provider, chain: PlatformChain): Promise<ConnectedWallet> {
  const [address] = await provider.request({ method: "eth_requestAccounts" });
  if (!address) throw new Error("The wallet shared no account: unlock it and connect again.");
  const chainId = Number(await provider.request({ method: "eth_chainId" }));
  const client = createWalletClient({ account: address, chain: viemChain(chain), transport: custom(provider) });
  return { client, address, chainId };
}

const UNKNOWN_CHAIN = 4902; // EIP-3326: the wallet does not know the chain; add it first (EIP-3085)

/** Switches the wallet to the platform's chain, adding it to the wallet when it does not know it. */
export async function switchToPlatformChain(provider: EIP1193Provider, chain: PlatformChain): Promise<void> {
  const chainId = numberToHex(chain.id);
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (error) {
    if ((error as { code?: number }).code !== UNKNOWN_CHAIN) throw error;
    const { name, nativeCurrency } = viemChain(chain);
    await provider.request({ method: "wallet_addEthereumChain",
      params: [{ chainId, chainName: name, nativeCurrency, rpcUrls: [chain.rpcUrl] }] });
  }
}
