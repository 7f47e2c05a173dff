"""Identity: the controller of our ACA-Py agent (DIDComm connections, credentials, presentations)."""
