// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice Benchmark only, never deployed outside `make bench`: emits many token Transfer events per
/// transaction by paying `amount` to `count` consecutive addresses starting at `first`.
contract TransferSpray {
    function spray(IERC20 token, address first, uint256 count, uint256 amount) external {
        uint160 start = uint160(first);
        for (uint160 i = 0; i < count; ++i) {
            token.transfer(address(start + i), amount);
        }
    }
}
