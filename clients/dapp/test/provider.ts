// TEST ONLY, never part of the app's bundle: an EIP-1193 wallet (`window.ethereum`) for the browser test.
// The test injects this script before the page's own, with `window.__fitmintTestWallet` set to a fresh
// dev key and the stack's Anvil RPC URL. It signs in the page like a wallet extension would (personal_sign,
// eth_signTypedData_v4, transactions signed here and sent raw) and forwards every read to Anvil. It starts
// on another chain (`startChainId`) that it knows, and knows the platform's chain only once the app adds it,
// so the app's switch-then-add path runs. Every request is logged in `requests` for the test to check.
import { createWalletClient, http, numberToHex, type Hex, type TypedDataDefinition } from "viem";
import { privateKeyToAccount } from "viem/accounts";

interface TestWalletConfig {
  privateKey: Hex;
  rpcUrl: string;
  chainId: number;
  startChainId: number;
  requests?: string[];
}

type Listener = (...args: unknown[]) => void;

class ProviderRpcError extends Error {
  constructor(readonly code: number, message: string, readonly data?: unknown) {
    super(message);
  }
}

const config = (window as unknown as { __fitmintTestWallet: TestWalletConfig }).__fitmintTestWallet;
const account = privateKeyToAccount(config.privateKey);
const chain = {
  id: config.chainId,
  name: "Anvil",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [config.rpcUrl] } },
};
const signer = createWalletClient({ account, chain, transport: http(config.rpcUrl) });
const knownChains = new Set([config.startChainId]);
let currentChainId = config.startChainId;
const listeners = new Map<string, Set<Listener>>();
const requests: string[] = (config.requests = []);
let rpcId = 0;

function emit(event: string, ...args: unknown[]): void {
  for (const listener of listeners.get(event) ?? []) listener(...args);
}

/** A read passed to Anvil as is; its error (e.g. a revert's data) passed back as is. */
async function forward(method: string, params: unknown[] = []): Promise<unknown> {
  const response = await fetch(config.rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method, params }),
  });
  const answer = await response.json();
  if (answer.error) throw new ProviderRpcError(answer.error.code, answer.error.message, answer.error.data);
  return answer.result;
}

function onPlatformChain(): void {
  if (currentChainId !== config.chainId) {
    throw new ProviderRpcError(4901, `The wallet is on chain ${currentChainId}, not ${config.chainId}.`);
  }
}

/** Typed data as a wallet receives it (JSON, amounts as decimal strings) in the form viem signs. */
function typedData(json: string): TypedDataDefinition {
  const { types, primaryType, domain, message } = JSON.parse(json);
  delete types.EIP712Domain; // viem derives it from the domain
  return { types, primaryType, domain, message };
}

async function sendTransaction(tx: { to?: Hex; data?: Hex; value?: Hex; gas?: Hex }): Promise<Hex> {
  onPlatformChain();
  // Estimated here through `forward` so that a revert reaches the app with Anvil's code and data, as a
  // wallet extension passes it on.
  const gas = tx.gas ?? await forward("eth_estimateGas", [{ from: account.address, to: tx.to, data: tx.data,
    value: tx.value }]) as Hex;
  return signer.sendTransaction({ to: tx.to, data: tx.data, value: tx.value ? BigInt(tx.value) : undefined,
    gas: BigInt(gas) });
}

async function request({ method, params = [] }: { method: string; params?: unknown[] }): Promise<unknown> {
  requests.push(method);
  switch (method) {
    case "eth_requestAccounts":
    case "eth_accounts":
      return [account.address];
    case "eth_chainId":
      return numberToHex(currentChainId);
    case "net_version":
      return String(currentChainId);
    case "wallet_switchEthereumChain": {
      const wanted = Number((params[0] as { chainId: Hex }).chainId);
      if (!knownChains.has(wanted)) throw new ProviderRpcError(4902, `Unrecognized chain ID ${wanted}: add it first.`);
      if (wanted !== currentChainId) {
        currentChainId = wanted;
        emit("chainChanged", numberToHex(wanted));
      }
      return null;
    }
    case "wallet_addEthereumChain": {
      const added = Number((params[0] as { chainId: Hex }).chainId);
      knownChains.add(added);
      if (added !== currentChainId) { // as wallets do, adding switches to it
        currentChainId = added;
        emit("chainChanged", numberToHex(added));
      }
      return null;
    }
    case "personal_sign": {
      const message = params[0] as string;
      return account.signMessage({ message: /^0x[0-9a-fA-F]*$/.test(message) ? { raw: message as Hex } : message });
    }
    case "eth_signTypedData_v4":
      onPlatformChain();
      return account.signTypedData(typedData(params[1] as string));
    case "eth_sendTransaction":
      return sendTransaction(params[0] as { to?: Hex; data?: Hex; value?: Hex; gas?: Hex });
    default:
      return forward(method, params);
  }
}

(window as unknown as { ethereum: unknown }).ethereum = {
  isFitmintTestWallet: true,
  request,
  on(event: string, listener: Listener) {
    if (!listeners.has(event)) listeners.set(event, new Set());
    listeners.get(event)!.add(listener);
  },
  removeListener(event: string, listener: Listener) {
    listeners.get(event)?.delete(listener);
  },
};
