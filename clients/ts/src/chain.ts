/**
 * What the API says about the chain (GET /chain), kept and revalidated with its ETag, and the viem
 * objects built from it: the chain definition and a public client on its RPC URL (or an override).
 */
import { createPublicClient, defineChain, getAddress, http, type Address, type Chain, type PublicClient } from "viem";
import type { ContractName } from "./generated/abis.js";
import type { Http } from "./http.js";
import type { ChainInfo } from "./types.js";

export class ChainDirectory {
  private cached: { info: ChainInfo; etag: string } | null = null;
  private client: PublicClient | null = null;
  private clientUrl: string | null = null;

  constructor(private readonly http: Http, private readonly rpcUrl?: string) {}

  /** GET /chain; a kept copy is revalidated (If-None-Match) and served again on 304. */
  async info(): Promise<ChainInfo> {
    const { status, body, headers } = await this.http.send<ChainInfo>("GET", "/chain", {
      headers: this.cached ? { "If-None-Match": this.cached.etag } : {},
      accept: [304],
    });
    if (status === 304 && this.cached) {
      return this.cached.info;
    }
    const etag = headers.get("ETag");
    this.cached = etag ? { info: body, etag } : null;
    return body;
  }

  /** A contract's EIP-55 address from GET /chain. */
  async address(name: ContractName): Promise<Address> {
    const contract = (await this.info()).contracts[name];
    if (!contract) throw new Error(`GET /chain names no ${name} contract: is the deployment complete?`);
    return getAddress(contract.address);
  }

  /** The viem chain of the deployment (its id and RPC URL). */
  async viemChain(): Promise<Chain> {
    const info = await this.info();
    const url = this.rpcUrl ?? info.rpc_url;
    return defineChain({
      id: info.chain_id,
      name: `fitmint (${info.chain_id})`,
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [url] } },
    });
  }

  /** A public client on the RPC URL (the option given to Fitmint, else GET /chain's rpc_url). */
  async publicClient(): Promise<PublicClient> {
    const chain = await this.viemChain();
    const url = chain.rpcUrls.default.http[0]!;
    if (!this.client || this.clientUrl !== url) {
      this.client = createPublicClient({ chain, transport: http(url) }) as PublicClient;
      this.clientUrl = url;
    }
    return this.client;
  }
}
