"""The member's decentralised identity as the platform sees it: their DIDComm connections and the
credentials issued to them (none yet is a valid answer)."""

from fitmint_client.http import Session
from fitmint_client.models import IdentityStatus


class IdentityReads:
    def __init__(self, session: Session):
        self.session = session

    def identity(self) -> IdentityStatus:
        connections = self.session.get_json("/identity/connections", auth=True)["data"]
        credentials = self.session.get_json("/identity/credentials", auth=True)["data"]
        return IdentityStatus(connections=connections, credentials=credentials)
