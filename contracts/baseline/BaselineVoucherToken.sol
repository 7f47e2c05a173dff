// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @notice Gas anchor only, never deployed outside benchmarks: the least a voucher claim can do. An
/// OpenZeppelin ERC-20 that mints to whoever an immutable signer's EIP-712 voucher names, once per claim
/// id (one storage slot per id), with no roles, cap, daily or epoch budget, pause or batch.
contract BaselineVoucherToken is ERC20, EIP712 {
    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(address account,uint256 amount,bytes32 claimId,uint256 deadline)");

    address private immutable _signer;
    mapping(bytes32 claimId => bool paid) public paid;

    error VoucherExpired();
    error VoucherAlreadyPaid();
    error VoucherInvalidSigner();

    constructor(address signer) ERC20("Anchor", "ANC") EIP712("Anchor", "1") {
        _signer = signer;
    }

    function claim(address account, uint256 amount, bytes32 claimId, uint256 deadline, bytes calldata signature)
        external
    {
        if (block.timestamp > deadline) revert VoucherExpired();
        if (paid[claimId]) revert VoucherAlreadyPaid();
        paid[claimId] = true;
        bytes32 digest =
            _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, account, amount, claimId, deadline)));
        if (ECDSA.recoverCalldata(digest, signature) != _signer) revert VoucherInvalidSigner();
        _mint(account, amount);
    }
}
