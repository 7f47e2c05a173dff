// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Pausable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Pausable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IFitToken} from "./interfaces/IFitToken.sol";

/// @notice FIT, the fitmint reward token: minted for verified activity, spent (and partly burned) in
/// the marketplace.
/// @dev Invariants:
/// - `totalSupply() <= cap()` after every state change (ERC20Capped checks each mint in `_update`).
/// - Only MINTER_ROLE holders (the ActivityRewards contract) create tokens.
/// - While paused, no balance changes at all: no transfer, mint or burn.
/// - EIP-2612 permits use the domain ("Fitmint", "1", chainid, this).
contract FitToken is ERC20, ERC20Burnable, ERC20Capped, ERC20Pausable, ERC20Permit, AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    constructor(address admin, uint256 supplyCap)
        ERC20("Fitmint", "FIT")
        ERC20Capped(supplyCap)
        ERC20Permit("Fitmint")
    {
        if (admin == address(0)) revert IFitToken.FitTokenInvalidAdmin(admin);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    function _update(address from, address to, uint256 value)
        internal
        override(ERC20, ERC20Capped, ERC20Pausable)
    {
        super._update(from, to, value);
    }
}
