"""A remote signer for the tests: a process of its own holding keys and answering the Ethereum JSON-RPC
signing methods the platform's RemoteSigner calls (fitmint/signers.py): eth_accounts, eth_signTransaction
and eth_signTypedData_v4 (also under Web3Signer's name, eth_signTypedData). It signs with eth_account's own
code, not the platform's, so a test compares two implementations.

    python -m tests.support.signer_server --port PORT KEY_FILE...   (key files: 0600, fitmint/secrets.py)

--wrong-key: signs everything with another, random key (a signer that lies: the client must notice).
--no-v4: answers only eth_signTypedData for typed data, as Web3Signer does.
"""

import argparse
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

from fitmint import secrets


def transaction_fields(params: dict) -> dict:
    """An eth_signTransaction parameter as eth_account's sign_transaction takes it (EIP-1559)."""
    number = lambda name: int(params[name], 16)  # noqa: E731
    return {"type": 2, "chainId": number("chainId"), "nonce": number("nonce"), "gas": number("gas"),
            "maxFeePerGas": number("maxFeePerGas"), "maxPriorityFeePerGas": number("maxPriorityFeePerGas"),
            "to": to_checksum_address(params["to"]),
            "value": number("value"), "data": params.get("input") or params.get("data") or "0x"}


class Signer:
    def __init__(self, keys: list[str], *, wrong_key: bool, typed_methods: tuple[str, ...]):
        self.accounts = {Account.from_key(key).address.lower(): Account.from_key(key) for key in keys}
        self.liar = Account.create() if wrong_key else None
        self.typed_methods = typed_methods

    def account(self, address: str):
        account = self.accounts.get(str(address).lower())
        if account is None:
            raise LookupError(f"unknown account {address}: this signer holds {sorted(self.accounts)}")
        return self.liar or account

    def answer(self, method: str, params: list):
        if method == "eth_accounts":
            return sorted(self.accounts)
        if method == "eth_signTransaction":
            (transaction,) = params
            fields = transaction_fields(transaction)
            return self.account(transaction["from"]).sign_transaction(fields).raw_transaction.to_0x_hex()
        if method in self.typed_methods:
            address, typed = params
            typed = json.loads(typed) if isinstance(typed, str) else typed
            return self.account(address).sign_message(encode_typed_data(full_message=typed)).signature.to_0x_hex()
        raise NotImplementedError(f"the method {method} does not exist/is not available")


def handler_for(signer: Signer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real signer: the client reuses its connections
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait for a delayed ACK

        def do_POST(self):
            request = json.loads(self.rfile.read(int(self.headers["content-length"])))
            try:
                reply = {"result": signer.answer(request["method"], request.get("params", []))}
            except NotImplementedError as exc:
                reply = {"error": {"code": -32601, "message": str(exc)}}
            except (LookupError, ValueError, TypeError, KeyError) as exc:
                reply = {"error": {"code": -32000, "message": str(exc)}}
            body = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), **reply}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet: one line per signature is noise in the test's log
            pass

    return Handler


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.signer_server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--wrong-key", action="store_true")
    parser.add_argument("--no-v4", action="store_true")
    parser.add_argument("key_files", nargs="+")
    args = parser.parse_args(argv)
    keys = ["0x" + secrets.read(path).removeprefix("0x") for path in args.key_files]
    methods = ("eth_signTypedData",) if args.no_v4 else ("eth_signTypedData_v4", "eth_signTypedData")
    server = ThreadingHTTPServer(("127.0.0.1", args.port),
                                 handler_for(Signer(keys, wrong_key=args.wrong_key, typed_methods=methods)))
    print(f"signing for {len(keys)} key(s) on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
    return 0


@contextmanager
def running_signer(key_files: list[Path], *flags: str) -> Iterator[str]:
    """The signer as a process of its own, holding the keys of `key_files`; yields its URL, stops it after."""
    from tests.support.paths import ROOT
    from tests.support.processes import free_port, spawn, stop_group
    from tests.support.waiting import wait_until

    port = free_port()
    process = spawn([sys.executable, "-m", "tests.support.signer_server", "--port", str(port), *flags,
                     *map(str, key_files)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the signer exited {process.returncode}: {process.stderr.read().decode()}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening, timeout=30, interval=0.05, what="the signer listening")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(process)


if __name__ == "__main__":
    sys.exit(main())
