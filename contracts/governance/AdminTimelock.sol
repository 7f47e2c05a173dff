// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @notice The admin of every fitmint contract: OpenZeppelin's TimelockController as it is, so the
/// deploy script and the admin CLI have a compiled artifact of it (scripts/deploy.py, scripts/admin).
/// @dev Invariants (TimelockController's own):
/// - Every call it makes was scheduled by a PROPOSER_ROLE holder (the governor) at least `getMinDelay()`
///   seconds before, and can be cancelled by a CANCELLER_ROLE holder until it is executed.
/// - It administers itself (no admin account): changing its delay, proposers or executors is itself
///   a delayed operation.
/// - `executors` containing address(0) opens execution to anyone once an operation is ready.
contract AdminTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors)
        TimelockController(minDelay, proposers, executors, address(0))
    {}
}
