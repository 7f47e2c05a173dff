"""fitmint_client: the Python client of the fitmint platform, for wallet backends and scripts.

    from fitmint_client import Fitmint
    with Fitmint("http://127.0.0.1:8000") as fm:
        fm.sign_in(account)                      # an eth_account LocalAccount: the key stays here
        workout = fm.record_workout({...})
        fm.claim_voucher(account, fm.request_voucher(workout.id))
        fm.buy_with_permit(account, listing_id=7, quantity=1)
"""

from fitmint_client.client import Fitmint
from fitmint_client.errors import (
    FitmintApiError,
    FitmintChainError,
    FitmintError,
    FitmintInputError,
    FitmintTimeout,
)
from fitmint_client.http import Tokens
from fitmint_client.units import FIT, format_fit, parse_fit

__all__ = ["FIT", "Fitmint", "FitmintApiError", "FitmintChainError", "FitmintError", "FitmintInputError",
           "FitmintTimeout", "Tokens", "format_fit", "parse_fit"]
__version__ = "0.1.0"
