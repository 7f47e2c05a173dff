// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Burnable} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Burnable.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IFitItems} from "./interfaces/IFitItems.sol";

/// @notice FitItems: ERC-1155 gear, sneakers and vouchers sold in the marketplace. Each item id's
/// metadata is a JSON document on IPFS, so `uri(id)` is `ipfs://<CID>`.
/// @dev Invariants:
/// - Only MINTER_ROLE holders (the marketplace and the admin) create items.
/// - Only METADATA_ROLE holders change a CID; every change emits the ERC-1155 `URI` event, so the
///   history of an item's metadata versions is on-chain.
/// - Holders (or their approved operators) may burn their items, e.g. when redeeming a voucher item.
contract FitItems is ERC1155, ERC1155Burnable, AccessControl, IFitItems {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    bytes32 public constant METADATA_ROLE = keccak256("METADATA_ROLE");

    uint256 private constant _MIN_CID_LENGTH = 46; // a CIDv0 ("Qm" + 44 base58 chars)
    uint256 private constant _MAX_CID_LENGTH = 100;

    mapping(uint256 id => string cid) private _cids;

    constructor(address admin) ERC1155("") {
        if (admin == address(0)) revert ItemsInvalidAdmin(admin);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
        _grantRole(METADATA_ROLE, admin);
    }

    function mint(address to, uint256 id, uint256 amount, bytes calldata data) external onlyRole(MINTER_ROLE) {
        _mint(to, id, amount, data);
    }

    function setCid(uint256 id, string calldata cid) external onlyRole(METADATA_ROLE) {
        _checkCid(id, cid);
        _cids[id] = cid;
        emit URI(uri(id), id);
    }

    function cidOf(uint256 id) external view returns (string memory) {
        return _cids[id];
    }

    /// @notice `ipfs://<CID>` of item `id`'s metadata, or "" while it has none.
    function uri(uint256 id) public view override returns (string memory) {
        string memory cid = _cids[id];
        return bytes(cid).length == 0 ? "" : string.concat("ipfs://", cid);
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC1155, AccessControl, IERC165) returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    /// @dev Cheap shape check only (length, multibase prefix); the backend verifies content against the
    /// CID when it serves metadata.
    function _checkCid(uint256 id, string calldata cid) private pure {
        bytes calldata raw = bytes(cid);
        bool validLength = raw.length >= _MIN_CID_LENGTH && raw.length <= _MAX_CID_LENGTH;
        bool validPrefix = validLength && ((raw[0] == "Q" && raw[1] == "m") || raw[0] == "b");
        if (!validPrefix) revert ItemsInvalidCid(id, cid);
    }
}
