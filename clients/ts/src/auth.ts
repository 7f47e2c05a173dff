/**
 * Sign-In with Ethereum (EIP-4361): the message names what GET /chain says it must (domain, uri,
 * statement, chain id), the API's nonce, and the wallet signs it with personal_sign.
 */
import { getAddress } from "viem";
import { createSiweMessage } from "viem/siwe";
import type { ChainDirectory } from "./chain.js";
import { FitmintApiError } from "./errors.js";
import type { Http } from "./http.js";
import type { Session, TokenStore } from "./session.js";
import type { Me, ResponseOf, TokenPair } from "./types.js";
import { accountOf, addressOf, type Wallet } from "./wallet.js";

export type SignInOptions = { tenant?: string };

export class Auth {
  constructor(private readonly http: Http, private readonly directory: ChainDirectory,
              private readonly tokens: TokenStore) {}

  async signIn(wallet: Wallet, options: SignInOptions = {}): Promise<Session> {
    const chain = await this.directory.info();
    const account = await accountOf(wallet);
    const address = getAddress(addressOf(account));
    const { nonce } = await this.http.request<ResponseOf<"/auth/nonce", "post">>("POST", "/auth/nonce");
    const message = createSiweMessage({
      domain: chain.siwe.domain,
      address,
      statement: chain.siwe.statement,
      uri: chain.siwe.uri,
      version: "1",
      chainId: chain.chain_id,
      nonce,
      issuedAt: new Date(),
    });
    const signature = await wallet.signMessage({ account, message });
    const pair = await this.http.request<TokenPair>("POST", "/auth/verify", {
      body: { message, signature, ...(options.tenant ? { tenant: options.tenant } : {}) },
    });
    const session: Session = { accessToken: pair.access_token, refreshToken: pair.refresh_token, userId: null,
      tenant: "", address };
    this.tokens.set(session);
    const me = await this.me();
    const complete = { ...session, userId: me.user_id ?? null, tenant: me.tenant_id };
    this.tokens.set(complete);
    return complete;
  }

  /** A new token pair now (the SDK also does this by itself when a request answers 401). */
  refresh(): Promise<Session> {
    return this.http.refresh();
  }

  /** Ends the session on the server (its tokens stop working) and forgets it here. */
  async signOut(): Promise<void> {
    if (!this.tokens.get()) return;
    try {
      await this.http.request("POST", "/auth/logout", { auth: "required" });
    } catch (error) {
      if (!(error instanceof FitmintApiError && error.status === 401)) throw error;  // already over
    } finally {
      this.tokens.set(null);
    }
  }

  me(): Promise<Me> {
    return this.http.request<Me>("GET", "/auth/me", { auth: "required" });
  }

  session(): Session | null {
    return this.tokens.get();
  }
}
