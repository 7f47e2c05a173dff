/** Who is signed in: the tokens the API issued, kept wherever the app wants them (memory by default). */

export type Session = {
  accessToken: string;
  refreshToken: string;
  userId: string | null;
  /** The tenant (its id) the member signed in to. */
  tenant: string;
  address: `0x${string}` | null;
};

/** Where the SDK keeps the session: pass one backed by sessionStorage (or a file) to survive reloads. */
export interface TokenStore {
  get(): Session | null;
  set(session: Session | null): void;
}

export function memoryTokenStore(initial: Session | null = null): TokenStore {
  let current = initial;
  return {
    get: () => current,
    set: (session) => {
      current = session;
    },
  };
}
