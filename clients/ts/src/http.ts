/**
 * Requests to the fitmint API: JSON in and out, the bearer token, one refresh and retry on a 401, and
 * waiting out a 429's Retry-After (a bounded number of times, each wait bounded).
 */
import { FitmintApiError } from "./errors.js";
import type { Session, TokenStore } from "./session.js";
import type { TokenPair } from "./types.js";

export type Fetch = typeof globalThis.fetch;

export type HttpOptions = {
  apiUrl: string;
  fetch?: Fetch;
  tokenStore: TokenStore;
  /** How many times a 429 is waited out before it is thrown (default 3). */
  rateLimitRetries?: number;
  /** The longest Retry-After waited, in ms (default 30 s); a longer one is thrown at once. */
  maxRetryAfterMs?: number;
};

export type RequestOptions = {
  query?: Record<string, string | number | bigint | boolean | null | undefined>;
  body?: unknown;
  /** "required": send the token (refresh on 401); "none": never send it. */
  auth?: "required" | "none";
  headers?: Record<string, string>;
  /** Statuses answered without throwing (e.g. 304, or a 422 the caller reads itself). */
  accept?: number[];
};

export class Http {
  readonly apiUrl: string;
  private readonly fetchImpl: Fetch;
  private readonly tokens: TokenStore;
  private readonly rateLimitRetries: number;
  private readonly maxRetryAfterMs: number;
  private refreshing: Promise<Session> | null = null;

  constructor(options: HttpOptions) {
    this.apiUrl = options.apiUrl.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.tokens = options.tokenStore;
    this.rateLimitRetries = options.rateLimitRetries ?? 3;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
  }

  /** An absolute URL for a path the API answers with (e.g. a listing's image_url). */
  url(path: string, query?: RequestOptions["query"]): string {
    const url = new URL(path.startsWith("http") ? path : this.apiUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  /** The parsed JSON of the answer, with its status and headers. Throws FitmintApiError on a refusal. */
  async send<T>(method: string, path: string, options: RequestOptions = {}): Promise<{ status: number; body: T; headers: Headers }> {
    let refreshed = false;
    for (let attempt = 0; ; attempt += 1) {
      const session = options.auth === "required" ? this.tokens.get() : null;
      if (options.auth === "required" && !session) {
        throw new FitmintApiError(401, { detail: "not signed in: call signIn(wallet) first" });
      }
      const response = await this.fetchImpl(this.url(path, options.query), {
        method,
        headers: {
          Accept: "application/json",
          ...(options.body !== undefined ? { "Content-Type": "application/json" } : {}),
          ...(session ? { Authorization: `Bearer ${session.accessToken}` } : {}),
          ...options.headers,
        },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      });
      if (response.status === 401 && session && !refreshed) {
        refreshed = true;
        await this.refresh(session);  // throws when the session is over: the original 401 is moot then
        continue;
      }
      if (response.status === 429 && attempt < this.rateLimitRetries) {
        const wait = retryAfterMs(response.headers.get("Retry-After"));
        if (wait <= this.maxRetryAfterMs) {
          await response.body?.cancel();
          await new Promise((resolve) => setTimeout(resolve, wait));
          continue;
        }
      }
      const body = await readJson(response);
      if (response.ok || options.accept?.includes(response.status)) {
        return { status: response.status, body: body as T, headers: response.headers };
      }
      throw new FitmintApiError(response.status, body, `${method} ${path} answered ${response.status} ${response.statusText}`);
    }
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.send<T>(method, path, options)).body;
  }

  /**
   * Exchanges the refresh token for a new pair (concurrent callers share one exchange). A refused refresh
   * (revoked, reused or expired) ends the session: the store is cleared and the 401 thrown.
   */
  refresh(current: Session | null = this.tokens.get()): Promise<Session> {
    if (!current) return Promise.reject(new FitmintApiError(401, { detail: "not signed in: nothing to refresh" }));
    const stored = this.tokens.get();
    if (!stored) return Promise.reject(new FitmintApiError(401, { detail: "signed out: sign in again" }));
    if (stored.accessToken !== current.accessToken) return Promise.resolve(stored);  // refreshed meanwhile
    this.refreshing ??= (async () => {
      try {
        const pair = await this.request<TokenPair>("POST", "/auth/refresh", { body: { refresh_token: current.refreshToken } });
        const next = { ...current, accessToken: pair.access_token, refreshToken: pair.refresh_token };
        this.tokens.set(next);
        return next;
      } catch (error) {
        if (error instanceof FitmintApiError && error.status === 401) this.tokens.set(null);
        throw error;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }
}

function retryAfterMs(header: string | null): number {
  if (!header) return 1_000;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? 1_000 : Math.max(0, date - Date.now());
}

async function readJson(response: Response): Promise<unknown> {
  if (response.status === 204 || response.status === 304) return null;
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 500) };
  }
}
