// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

/// @notice The surface of FIT that the rewards contract and the marketplace rely on.
interface IFitToken is IERC20, IERC20Permit {
    /// @dev The admin given to the constructor was the zero address.
    error FitTokenInvalidAdmin(address admin);

    /// @notice Mints `amount` to `to`; callable by MINTER_ROLE holders only.
    function mint(address to, uint256 amount) external;

    /// @notice Burns `amount` of `account`'s tokens, spending the caller's allowance.
    function burnFrom(address account, uint256 amount) external;

    function cap() external view returns (uint256);
}
