// Identity status: the member's DIDComm connections and the credentials issued to them.
import { describeError, identity } from "../platform";
import { busy, byId, h, replace, table } from "../ui/dom";
import { announce } from "../ui/status";

export function setUpIdentity(): void {
  const button = byId<HTMLButtonElement>("refresh-identity");
  button.addEventListener("click", () => void busy(button, refreshIdentity));
}

export async function refreshIdentity(): Promise<void> {
  try {
    const { connections, credentials } = await identity();
    replace(byId("identity-connections"), connections.length
      ? table("Connections", ["With", "State", "Since"], connections.map((c) => [c.label, c.state,
        new Date(c.since).toLocaleString()]))
      : h("p", { class: "empty" }, "No connections yet: connect an identity wallet (DIDComm) to receive credentials."));
    replace(byId("identity-credentials"), credentials.length
      ? table("Credentials", ["Credential", "Issued", "Status"], credentials.map((c) => [c.kind,
        new Date(c.issuedAt).toLocaleString(), c.revoked ? "revoked" : "valid"]))
      : h("p", { class: "empty" }, "No credentials issued to you yet."));
  } catch (error) {
    announce(describeError(error), "error");
  }
}
