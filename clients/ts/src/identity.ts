/** The signed-in member's identity: DIDComm connections and verifiable credentials (ACA-Py behind the API). */
import type { Http } from "./http.js";
import type { Connections, Credentials } from "./types.js";

export class IdentityReads {
  constructor(private readonly http: Http) {}

  async identity(): Promise<{ connections: Connections; credentials: Credentials }> {
    const [connections, credentials] = await Promise.all([
      this.http.request<Connections>("GET", "/identity/connections", { auth: "required" }),
      this.http.request<Credentials>("GET", "/identity/credentials", { auth: "required" }),
    ]);
    return { connections, credentials };
  }
}
