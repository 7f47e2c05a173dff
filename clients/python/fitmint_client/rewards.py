"""Rewards: the attestor-signed voucher of an accepted workout, and its claim: the member's own key sends
ActivityRewards.claim(voucher, signature) to the chain. In a tenant paying by epochs: the closed epochs,
an account's Merkle proof of a posted one, and its claim (ActivityRewards.claimEpoch)."""

from eth_account.signers.local import LocalAccount

from fitmint_client import validate
from fitmint_client.chaininfo import ChainDocuments
from fitmint_client.errors import FitmintInputError
from fitmint_client.http import Session
from fitmint_client.models import EpochProof, EpochsPage, Transaction, Voucher
from fitmint_client.transactions import Transactor


class Rewards:
    def __init__(self, session: Session, documents: ChainDocuments, transactor: Transactor):
        self.session = session
        self.documents = documents
        self.transactor = transactor

    def request_voucher(self, workout_id: str, account: str | None = None) -> Voucher:
        """The voucher of an accepted workout (asking again returns the same voucher); `account`: which of
        the member's linked wallets receives the FIT (default: the first linked)."""
        body = {"account": validate.address(account, "account")} if account is not None else None
        return Voucher.model_validate(self.session.request(
            "POST", f"/rewards/workouts/{workout_id}/voucher", auth=True, json=body).json())

    def voucher(self, claim_id: str) -> Voucher:
        return Voucher.model_validate(self.session.get_json(f"/rewards/vouchers/{claim_id}", auth=True))

    def claim_voucher(self, wallet, voucher: Voucher) -> Transaction:
        """Sends ActivityRewards.claim(voucher, signature) from `wallet` (it pays the gas; the FIT go to
        the voucher's account) and waits until mined. A voucher the contract refuses (already claimed,
        expired, over the daily cap) raises FitmintChainError in words, before anything is sent."""
        account: LocalAccount = validate.account(wallet)
        chain = self.documents.chain(revalidate=False)
        if voucher.chain_id != chain.chain_id or voucher.contract.lower() != self.documents.address(
                "ActivityRewards").lower():
            raise FitmintInputError(f"this voucher is for contract {voucher.contract} on chain {voucher.chain_id}, "
                                    f"not for this platform's ActivityRewards on chain {chain.chain_id}")
        receipt = self.transactor.send(account, "ActivityRewards", "claim", voucher.model_dump(), voucher.signature)
        return Transaction(tx_hash=receipt["transactionHash"], block_number=int(receipt["blockNumber"], 16))

    def epochs(self, *, limit: int | None = None, before: int | None = None) -> EpochsPage:
        """The closed reward epochs, newest first (public)."""
        params = {k: v for k, v in {"limit": limit, "before": before}.items() if v is not None}
        return EpochsPage.model_validate(self.session.get_json("/rewards/epochs", params=params))

    def epoch_proof(self, epoch: int, address: str) -> EpochProof:
        """`address`'s leaf of a posted epoch with its proof (public); FitmintApiError 404 (in words) when the
        epoch is not posted or the address has no leaf in it."""
        return EpochProof.model_validate(self.session.get_json(
            f"/rewards/epochs/{int(epoch)}/proofs/{validate.address(address, 'address')}"))

    def claim_epoch(self, wallet, proof: EpochProof) -> Transaction:
        """Sends ActivityRewards.claimEpoch(epoch, index, account, amount, proof) from `wallet` (any wallet:
        the FIT go to the leaf's account) and waits until mined; a refusal (already claimed) raises
        FitmintChainError in words, before anything is sent."""
        account: LocalAccount = validate.account(wallet)
        if proof.contract.lower() != self.documents.address("ActivityRewards").lower():
            raise FitmintInputError(f"this proof is for contract {proof.contract}, not this platform's ActivityRewards")
        siblings = [bytes.fromhex(sibling[2:]) for sibling in proof.proof]
        receipt = self.transactor.send(account, "ActivityRewards", "claimEpoch", proof.epoch, proof.index,
                                       validate.address(proof.account, "account"), proof.amount, siblings)
        return Transaction(tx_hash=receipt["transactionHash"], block_number=int(receipt["blockNumber"], 16))
