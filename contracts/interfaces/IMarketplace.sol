// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Events, errors and types of the FIT marketplace.
interface IMarketplace {
    /// @notice A listing. Primary listings mint new items on purchase and pay `seller` (the proceeds
    /// recipient); resale listings hold the seller's items in escrow. `remaining == 0` means closed.
    struct Listing {
        address seller;
        uint96 unitPrice;
        uint256 itemId;
        uint64 remaining;
        bool primary;
    }

    /// @notice What a buyer signs (EIP-712) so that anyone, typically the platform's relayer, can make
    /// the purchase for them: `quantity` items of `listingId` at no more than `maxUnitPrice` each, paid
    /// from and delivered to `buyer`, once (`nonce` is the buyer's current marketplace nonce of a key:
    /// `key << 64 | sequence`, key 0 being the plain `nonces(buyer)`), until `deadline` (unix seconds,
    /// inclusive).
    struct PurchaseIntent {
        address buyer;
        uint256 listingId;
        uint256 quantity;
        uint256 maxUnitPrice;
        uint256 nonce;
        uint256 deadline;
    }

    event ListingCreated(
        uint256 indexed listingId,
        uint256 indexed itemId,
        address indexed seller,
        uint256 unitPrice,
        uint256 quantity,
        bool primary,
        string cid
    );
    event ListingUpdated(uint256 indexed listingId, uint256 unitPrice, uint256 remaining);
    event ListingCancelled(uint256 indexed listingId, uint256 returnedQuantity);
    /// @notice A purchase: the buyer paid `quantity * unitPrice`, of which `fee` went to the treasury,
    /// `burned` was destroyed and the rest went to the seller.
    event OrderCreated(
        uint256 indexed orderId,
        address indexed buyer,
        address indexed seller,
        uint256 itemId,
        uint256 quantity,
        uint256 unitPrice,
        uint256 fee,
        uint256 burned,
        uint256 listingId
    );
    /// @notice `buyer` gave up their unused purchase intent signed with `nonce`.
    event PurchaseIntentCancelled(address indexed buyer, uint256 nonce);
    event FeesUpdated(uint256 feeBps, uint256 burnBps);
    event TreasuryUpdated(address indexed previousTreasury, address indexed newTreasury);
    /// @notice Listing and buying stopped / resumed (the events and errors of OpenZeppelin's Pausable).
    event Paused(address account);
    event Unpaused(address account);

    error EnforcedPause();
    error ExpectedPause();

    error MarketUnknownListing(uint256 listingId);
    error MarketListingClosed(uint256 listingId);
    error MarketZeroPrice();
    error MarketZeroQuantity();
    error MarketInsufficientSupply(uint256 listingId, uint256 remaining, uint256 requested);
    error MarketPriceAboveLimit(uint256 listingId, uint256 unitPrice, uint256 maxUnitPrice);
    error MarketNotListingOwner(uint256 listingId, address caller);
    error MarketNotPrimaryListing(uint256 listingId);
    error MarketInvalidFees(uint256 feeBps, uint256 burnBps);
    error MarketInvalidAddress(address account);
    error MarketUnexpectedTransfer(address token, address operator);
    error MarketIntentExpired(uint256 deadline);
    error MarketInvalidIntentSignature(address buyer);
}
