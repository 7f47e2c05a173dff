// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {BaselineItems} from "./BaselineItems.sol";
import {BaselineToken} from "./BaselineToken.sol";

/// @notice Gas baseline only, never deployed outside benchmarks: the least a sale can do (pull the
/// price, hand over the item), with no listing state, fee, burn, pause or reentrancy checks.
contract BaselineShop {
    struct Listing {
        address seller;
        uint96 price;
        uint256 itemId;
        uint256 supply;
    }

    BaselineToken private immutable _token;
    BaselineItems private immutable _items;
    uint256 private _listingCount;
    mapping(uint256 listingId => Listing) private _listings;

    constructor(BaselineToken token, BaselineItems items) {
        _token = token;
        _items = items;
    }

    /// @notice The least a listing can store.
    function list(uint256 itemId, uint96 price, uint256 supply) external returns (uint256 listingId) {
        listingId = ++_listingCount;
        _listings[listingId] = Listing(msg.sender, price, itemId, supply);
    }

    /// @notice A primary sale: pay `price` to `seller`, get one newly minted item `id`.
    function buy(address seller, uint256 id, uint256 price) external {
        _token.transferFrom(msg.sender, seller, price);
        _items.mint(msg.sender, id, 1);
    }

    function buyWithPermit(address seller, uint256 id, uint256 price, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
    {
        IERC20Permit(address(_token)).permit(msg.sender, address(this), price, deadline, v, r, s);
        _token.transferFrom(msg.sender, seller, price);
        _items.mint(msg.sender, id, 1);
    }

    /// @notice A resale: pay `price` to `seller`, get one of the seller's items (approved to this shop).
    function resell(address seller, uint256 id, uint256 price) external {
        _token.transferFrom(msg.sender, seller, price);
        _items.safeTransferFrom(seller, msg.sender, id, 1, "");
    }
}
