"""Helpers of the contract tests on Ape's chain (fixtures live in tests/conftest.py)."""

import importlib.util
import sys
from contextlib import contextmanager

import pytest
from ape.exceptions import CustomError

from fitmint.chain.permits import sign_permit
from tests.support.paths import ROOT


def permit_signature(token, owner_key, owner, spender, value, nonce, deadline, chain_id):
    """(v, r, s) of an EIP-2612 permit on FitToken."""
    signature = sign_permit(owner_key, token_name="Fitmint", token_address=token.address, chain_id=chain_id,
                            owner=owner, spender=spender, value=value, nonce=nonce, deadline=deadline)
    return signature.v, signature.r, signature.s


@contextmanager
def reverts_with(error_name, **inputs):
    """`ape.reverts` for an error raised deeper in the call (say, the token's error inside a purchase).

    Ape binds a bubbled-up error to the contract that was called, so its class never matches the
    inner contract's error class: match the error by name and its inputs instead.
    """
    with pytest.raises(CustomError) as info:
        yield info
    assert type(info.value).__name__ == error_name, f"expected {error_name}, got {info.value!r}"
    for name, expected in inputs.items():
        assert info.value.inputs[name] == expected, f"{error_name}.{name}: {info.value.inputs[name]!r} != {expected!r}"


def load_deploy_module():
    """scripts/deploy.py as a module (Ape runs it as a script; tests reuse its deploy function)."""
    spec = importlib.util.spec_from_file_location("fitmint_deploy_script", ROOT / "scripts" / "deploy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
