// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";

/// @notice The surface of the FitItems ERC-1155 collection that the marketplace relies on.
interface IFitItems is IERC1155 {
    /// @dev A metadata CID was empty, too long, or not a CIDv0 ("Qm...") / base32 CIDv1 ("b...").
    error ItemsInvalidCid(uint256 id, string cid);
    /// @dev The admin given to the constructor was the zero address.
    error ItemsInvalidAdmin(address admin);

    /// @notice Mints `amount` of item `id` to `to`; callable by MINTER_ROLE holders only.
    function mint(address to, uint256 id, uint256 amount, bytes calldata data) external;

    /// @notice Sets the IPFS CID of item `id`'s metadata (its `uri` becomes `ipfs://<cid>`).
    function setCid(uint256 id, string calldata cid) external;

    /// @notice The IPFS CID of item `id`'s metadata, empty if none was set.
    function cidOf(uint256 id) external view returns (string memory);
}
