/**
 * What the member's wallet does: the SDK never holds a key. A viem WalletClient (a browser wallet through
 * custom(window.ethereum), or a local account in Node) signs and sends; the SDK then waits for the receipt
 * on its own public client and turns a refusal into FitmintChainError.
 */
import type { Account, Address, Hash, TransactionReceipt, WalletClient } from "viem";
import type { ChainDirectory } from "./chain.js";
import { decodeChainError, FitmintChainError } from "./errors.js";

export type Wallet = WalletClient;

/** The wallet's account: its own (a local account, or one it was created with), else the first it exposes. */
export async function accountOf(wallet: Wallet): Promise<Account | Address> {
  if (wallet.account) return wallet.account;
  const [address] = await wallet.requestAddresses();
  if (!address) throw new Error("the wallet exposes no account: unlock it or connect one");
  return address;
}

export function addressOf(account: Account | Address): Address {
  return typeof account === "string" ? account : account.address;
}

export type Mined = { txHash: Hash; blockNumber: bigint; receipt: TransactionReceipt };

/**
 * Sends what `submit` sends from the wallet and waits until it is mined. A refusal before sending (the
 * node's gas estimate reverts) or a reverted receipt becomes FitmintChainError when the contract said why.
 */
export async function sendAndWait(directory: ChainDirectory, submit: () => Promise<Hash>): Promise<Mined> {
  let txHash: Hash;
  try {
    txHash = await submit();
  } catch (error) {
    throw decodeChainError(error) ?? error;
  }
  const client = await directory.publicClient();
  const receipt = await client.waitForTransactionReceipt({ hash: txHash, timeout: 60_000 });
  if (receipt.status !== "success") {
    const transaction = await client.getTransaction({ hash: txHash });
    try {  // replay it at its block: the node returns the revert data the receipt does not carry
      await client.call({ account: transaction.from, to: transaction.to, data: transaction.input,
        value: transaction.value, blockNumber: receipt.blockNumber });
    } catch (error) {
      const decoded = decodeChainError(error);
      if (decoded) throw decoded;
    }
    throw new FitmintChainError("TransactionReverted", [txHash]);
  }
  return { txHash, blockNumber: receipt.blockNumber, receipt };
}
