// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {NoncesKeyed} from "@openzeppelin/contracts/utils/NoncesKeyed.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IFitItems} from "./interfaces/IFitItems.sol";
import {IFitToken} from "./interfaces/IFitToken.sol";
import {IMarketplace} from "./interfaces/IMarketplace.sol";

/// @notice Sells FitItems for FIT: primary sales of catalog items (minted on purchase) and peer-to-peer
/// resale (items held in escrow while listed). Every purchase splits the price three ways: a fee to
/// the treasury, a share burned (the economy's token sink) and the rest to the seller.
/// A buyer without ETH signs a `PurchaseIntent` (EIP-712, domain "FitmintMarketplace" version "1";
/// ERC-1271 wallets too) and a relayer submits it with `executePurchaseIntent(WithPermit)`.
/// @dev Invariants:
/// - Tokens are conserved in a purchase: buyer's loss == seller's gain + treasury's gain + burned.
/// - The marketplace holds exactly the items of its open resale listings (sum of `remaining`); it
///   accepts no ERC-1155 transfer it did not start itself.
/// - `feeBps + burnBps <= MAX_CUT_BPS`, so sellers always keep at least half of a sale.
/// - A purchase never pays more than the buyer's `maxUnitPrice` (front-running a price update fails).
/// - A purchase pays from and delivers to one account only, the buyer: the caller, or the signer of
///   the intent. Whoever submits an intent neither pays, receives nor chooses anything: every term
///   (buyer, listing, quantity, price limit, nonce, deadline) is signed.
/// - An intent executes at most once: it names the buyer's current nonce of one key (ERC-4337 style,
///   `nonce = key << 64 | sequence`; key 0 is `nonces(buyer)`), which its execution (or the buyer's
///   `cancelPurchaseIntent`) uses up; each key's sequence only grows. Intents of one key execute in
///   order; intents of different keys are independent (parallel quotes).
/// Gas: the treasury, fees, pause flag and order counter share one slot (`Config`) and a listing is two
/// slots (`StoredListing`), so a purchase reads three cold slots of this contract (reports/gas.md).
contract Marketplace is
    IMarketplace,
    IERC1155Receiver,
    EIP712,
    NoncesKeyed,
    AccessControl,
    ReentrancyGuardTransient
{
    using SafeERC20 for IFitToken;

    bytes32 public constant LISTER_ROLE = keccak256("LISTER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant PURCHASE_INTENT_TYPEHASH = keccak256(
        "PurchaseIntent(address buyer,uint256 listingId,uint256 quantity,uint256 maxUnitPrice,uint256 nonce,uint256 deadline)"
    );

    uint256 public constant MAX_CUT_BPS = 5_000;
    uint256 private constant _BPS = 10_000;

    struct Order {
        uint256 id;
        address seller;
        uint256 itemId;
        uint256 unitPrice;
        uint256 total;
        uint256 fee;
        uint256 burned;
        bool primary;
    }

    /// @dev What every purchase reads, in one slot. 2**56 orders is out of reach.
    struct Config {
        address treasury;
        uint16 feeBps;
        uint16 burnBps;
        bool paused;
        uint56 orderCount;
    }

    /// @dev A `Listing` in two slots: item ids are FitItems catalog ids (a product uuid as an integer,
    /// 128 bits), so 184 bits hold them.
    struct StoredListing {
        address seller;
        uint96 unitPrice;
        uint64 remaining;
        bool primary;
        uint184 itemId;
    }

    IFitToken private immutable _token;
    IFitItems private immutable _items;

    Config private _config;
    uint256 private _listingCount;
    mapping(uint256 listingId => StoredListing) private _listings;

    modifier whenNotPaused() {
        if (_config.paused) revert EnforcedPause();
        _;
    }

    constructor(IFitToken fitToken, IFitItems fitItems, address admin, address treasury_, uint256 feeBps_, uint256 burnBps_)
        EIP712("FitmintMarketplace", "1")
    {
        if (admin == address(0)) revert MarketInvalidAddress(admin);
        _token = fitToken;
        _items = fitItems;
        _setTreasury(treasury_);
        _setFees(feeBps_, burnBps_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(LISTER_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    // ----------------------------------------------------------------------------------------------
    // Listings
    // ----------------------------------------------------------------------------------------------

    /// @notice Lists catalog item `itemId` for primary sale: up to `supply` new items at `unitPrice`
    /// FIT each, proceeds to `proceedsRecipient`. Sets the item's metadata to `ipfs://<cid>`.
    function createListing(uint256 itemId, uint256 unitPrice, uint256 supply, string calldata cid, address proceedsRecipient)
        external
        onlyRole(LISTER_ROLE)
        whenNotPaused
        returns (uint256 listingId)
    {
        if (proceedsRecipient == address(0)) revert MarketInvalidAddress(proceedsRecipient);
        listingId = _storeListing(proceedsRecipient, itemId, unitPrice, supply, true);
        emit ListingCreated(listingId, itemId, proceedsRecipient, unitPrice, supply, true, cid);
        _items.setCid(itemId, cid);
    }

    /// @notice Lists `quantity` of the caller's item `itemId` for resale at `unitPrice` FIT each. The
    /// items move into escrow (the caller must have approved this contract on FitItems).
    function listForResale(uint256 itemId, uint256 quantity, uint256 unitPrice)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 listingId)
    {
        listingId = _storeListing(msg.sender, itemId, unitPrice, quantity, false);
        emit ListingCreated(listingId, itemId, msg.sender, unitPrice, quantity, false, "");
        _items.safeTransferFrom(msg.sender, address(this), itemId, quantity, "");
    }

    /// @notice Changes an open listing's unit price (its seller, or a lister for primary listings).
    function updatePrice(uint256 listingId, uint256 unitPrice) external whenNotPaused {
        StoredListing storage listing = _openListing(listingId);
        _checkListingOwner(listingId, listing);
        if (unitPrice == 0) revert MarketZeroPrice();
        listing.unitPrice = SafeCast.toUint96(unitPrice);
        emit ListingUpdated(listingId, unitPrice, listing.remaining);
    }

    /// @notice Sets how many items a primary listing still sells (a lister only).
    function updateSupply(uint256 listingId, uint256 supply) external onlyRole(LISTER_ROLE) whenNotPaused {
        StoredListing storage listing = _openListing(listingId);
        if (!listing.primary) revert MarketNotPrimaryListing(listingId);
        if (supply == 0) revert MarketZeroQuantity();
        listing.remaining = SafeCast.toUint64(supply);
        emit ListingUpdated(listingId, listing.unitPrice, supply);
    }

    /// @notice Closes a listing; a resale listing's unsold items go back to its seller. Allowed while
    /// paused, so sellers can always recover their escrow.
    function cancelListing(uint256 listingId) external nonReentrant {
        StoredListing storage listing = _openListing(listingId);
        _checkListingOwner(listingId, listing);
        uint256 returned = listing.primary ? 0 : listing.remaining;
        listing.remaining = 0;
        emit ListingCancelled(listingId, returned);
        if (returned != 0) _items.safeTransferFrom(address(this), listing.seller, listing.itemId, returned, "");
    }

    // ----------------------------------------------------------------------------------------------
    // Purchases
    // ----------------------------------------------------------------------------------------------

    /// @notice Buys `quantity` items of `listingId`, paying at most `maxUnitPrice` each. The caller
    /// must have approved this contract for the total price on FIT.
    function purchase(uint256 listingId, uint256 quantity, uint256 maxUnitPrice)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 orderId)
    {
        return _purchase(msg.sender, listingId, quantity, maxUnitPrice);
    }

    /// @notice `purchase` with an EIP-2612 permit for `permitValue`, so no approve transaction is
    /// needed. If the permit was already used (e.g. front-run), the purchase still succeeds as long as
    /// the allowance it granted is in place.
    function purchaseWithPermit(
        uint256 listingId,
        uint256 quantity,
        uint256 maxUnitPrice,
        uint256 permitValue,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external whenNotPaused nonReentrant returns (uint256 orderId) {
        try _token.permit(msg.sender, address(this), permitValue, deadline, v, r, s) {} catch {}
        return _purchase(msg.sender, listingId, quantity, maxUnitPrice);
    }

    /// @notice Makes the purchase `intent.buyer` signed (`signature`, EIP-712 over `intent`; an
    /// ERC-1271 signature if the buyer is a contract): anyone may submit it, typically the platform's
    /// relayer, who pays the gas only. The buyer pays (they must have approved this contract on FIT)
    /// and receives the items; their nonce is used up, so the intent works once.
    function executePurchaseIntent(PurchaseIntent calldata intent, bytes calldata signature)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 orderId)
    {
        _useIntent(intent, signature);
        return _purchase(intent.buyer, intent.listingId, intent.quantity, intent.maxUnitPrice);
    }

    /// @notice `executePurchaseIntent` with the buyer's EIP-2612 permit for `permitValue` (owner
    /// `intent.buyer`, spender this contract), so the buyer needs no transaction at all. As in
    /// `purchaseWithPermit`, a permit already used (say, front-run onto the token) is tolerated as long
    /// as the allowance it granted is in place.
    function executePurchaseIntentWithPermit(
        PurchaseIntent calldata intent,
        bytes calldata signature,
        uint256 permitValue,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external whenNotPaused nonReentrant returns (uint256 orderId) {
        _useIntent(intent, signature);
        try _token.permit(intent.buyer, address(this), permitValue, permitDeadline, v, r, s) {} catch {}
        return _purchase(intent.buyer, intent.listingId, intent.quantity, intent.maxUnitPrice);
    }

    /// @notice Gives up the caller's unused purchase intent signed with `nonce` (their current nonce of
    /// its key: `nonces(caller)` for key 0, `nonces(caller, key)` otherwise): no one can execute it
    /// afterwards. Allowed while paused.
    function cancelPurchaseIntent(uint256 nonce) external {
        _useCheckedNonce(msg.sender, nonce);
        emit PurchaseIntentCancelled(msg.sender, nonce);
    }

    /// @notice The EIP-712 digest a buyer signs for `intent` (this contract's domain).
    function hashPurchaseIntent(PurchaseIntent calldata intent) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    PURCHASE_INTENT_TYPEHASH,
                    intent.buyer,
                    intent.listingId,
                    intent.quantity,
                    intent.maxUnitPrice,
                    intent.nonce,
                    intent.deadline
                )
            )
        );
    }

    /// @dev Checks the intent's deadline and signature, and uses up the buyer's nonce it names.
    function _useIntent(PurchaseIntent calldata intent, bytes calldata signature) private {
        if (block.timestamp > intent.deadline) revert MarketIntentExpired(intent.deadline);
        _useCheckedNonce(intent.buyer, intent.nonce);
        if (!SignatureChecker.isValidSignatureNowCalldata(intent.buyer, hashPurchaseIntent(intent), signature)) {
            revert MarketInvalidIntentSignature(intent.buyer);
        }
    }

    function _purchase(address buyer, uint256 listingId, uint256 quantity, uint256 maxUnitPrice)
        private
        returns (uint256)
    {
        Order memory order = _takeOrder(listingId, quantity, maxUnitPrice);
        emit OrderCreated(
            order.id, buyer, order.seller, order.itemId, quantity, order.unitPrice, order.fee, order.burned, listingId
        );
        _settle(buyer, order, quantity);
        return order.id;
    }

    /// @dev Checks the purchase against the listing, takes the items off it and prices the order.
    function _takeOrder(uint256 listingId, uint256 quantity, uint256 maxUnitPrice) private returns (Order memory order) {
        if (quantity == 0) revert MarketZeroQuantity();
        StoredListing storage listing = _openListing(listingId);
        uint256 remaining = listing.remaining;
        if (quantity > remaining) revert MarketInsufficientSupply(listingId, remaining, quantity);
        uint256 unitPrice = listing.unitPrice;
        if (unitPrice > maxUnitPrice) revert MarketPriceAboveLimit(listingId, unitPrice, maxUnitPrice);

        // quantity <= remaining, checked above.
        unchecked {
            listing.remaining = uint64(remaining - quantity);
        }
        uint256 total = unitPrice * quantity;
        Config storage config = _config;
        uint256 orderId = uint256(config.orderCount) + 1;
        config.orderCount = SafeCast.toUint56(orderId);
        order = Order({
            id: orderId,
            seller: listing.seller,
            itemId: listing.itemId,
            unitPrice: unitPrice,
            total: total,
            fee: total * config.feeBps / _BPS,
            burned: total * config.burnBps / _BPS,
            primary: listing.primary
        });
    }

    /// @dev Pulls the price from the buyer (seller, treasury, burn), then hands over the items.
    /// `buyer` is never arbitrary: it is `msg.sender`, or an intent's signer whose signature and nonce
    /// `_useIntent` checked (hence the slither suppressions).
    function _settle(address buyer, Order memory order, uint256 quantity) private {
        // fee + burned <= total * MAX_CUT_BPS / _BPS < total.
        unchecked {
            // slither-disable-next-line arbitrary-send-erc20
            _token.safeTransferFrom(buyer, order.seller, order.total - order.fee - order.burned);
        }
        // slither-disable-next-line arbitrary-send-erc20
        if (order.fee != 0) _token.safeTransferFrom(buyer, _config.treasury, order.fee);
        if (order.burned != 0) _token.burnFrom(buyer, order.burned);

        if (order.primary) {
            _items.mint(buyer, order.itemId, quantity, "");
        } else {
            _items.safeTransferFrom(address(this), buyer, order.itemId, quantity, "");
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Escrow receiver: only transfers this contract starts itself
    // ----------------------------------------------------------------------------------------------

    function onERC1155Received(address operator, address, uint256, uint256, bytes calldata)
        external
        view
        returns (bytes4)
    {
        _checkEscrowTransfer(operator);
        return this.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(address operator, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        view
        returns (bytes4)
    {
        _checkEscrowTransfer(operator);
        return this.onERC1155BatchReceived.selector;
    }

    function _checkEscrowTransfer(address operator) private view {
        if (msg.sender != address(_items) || operator != address(this)) {
            revert MarketUnexpectedTransfer(msg.sender, operator);
        }
    }

    function supportsInterface(bytes4 interfaceId) public view override(AccessControl, IERC165) returns (bool) {
        return interfaceId == type(IERC1155Receiver).interfaceId || super.supportsInterface(interfaceId);
    }

    // ----------------------------------------------------------------------------------------------
    // Views and administration
    // ----------------------------------------------------------------------------------------------

    function getListing(uint256 listingId) external view returns (Listing memory) {
        StoredListing memory stored = _listings[listingId];
        if (stored.seller == address(0)) revert MarketUnknownListing(listingId);
        return Listing({
            seller: stored.seller,
            unitPrice: stored.unitPrice,
            itemId: stored.itemId,
            remaining: stored.remaining,
            primary: stored.primary
        });
    }

    function listingCount() external view returns (uint256) {
        return _listingCount;
    }

    function orderCount() external view returns (uint256) {
        return _config.orderCount;
    }

    /// @return treasury_ the fee recipient
    /// @return feeBps_ the treasury's share of a sale, in basis points
    /// @return burnBps_ the burned share of a sale, in basis points
    function fees() external view returns (address treasury_, uint256 feeBps_, uint256 burnBps_) {
        Config storage config = _config;
        return (config.treasury, config.feeBps, config.burnBps);
    }

    function token() external view returns (IFitToken) {
        return _token;
    }

    function items() external view returns (IFitItems) {
        return _items;
    }

    function setFees(uint256 feeBps_, uint256 burnBps_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setFees(feeBps_, burnBps_);
    }

    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(treasury_);
    }

    /// @notice True while listing and buying are stopped (OpenZeppelin Pausable's interface; the flag
    /// lives in the `Config` slot that every purchase reads anyway).
    function paused() external view returns (bool) {
        return _config.paused;
    }

    function pause() external onlyRole(PAUSER_ROLE) whenNotPaused {
        _config.paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        if (!_config.paused) revert ExpectedPause();
        _config.paused = false;
        emit Unpaused(msg.sender);
    }

    function _storeListing(address seller, uint256 itemId, uint256 unitPrice, uint256 quantity, bool primary)
        private
        returns (uint256 listingId)
    {
        if (unitPrice == 0) revert MarketZeroPrice();
        if (quantity == 0) revert MarketZeroQuantity();
        listingId = ++_listingCount;
        _listings[listingId] = StoredListing({
            seller: seller,
            unitPrice: SafeCast.toUint96(unitPrice),
            remaining: SafeCast.toUint64(quantity),
            primary: primary,
            itemId: SafeCast.toUint184(itemId)
        });
    }

    function _openListing(uint256 listingId) private view returns (StoredListing storage listing) {
        listing = _listings[listingId];
        if (listing.seller == address(0)) revert MarketUnknownListing(listingId);
        if (listing.remaining == 0) revert MarketListingClosed(listingId);
    }

    /// @dev Resale listings belong to their seller; primary listings to the platform's listers.
    function _checkListingOwner(uint256 listingId, StoredListing storage listing) private view {
        bool owner = listing.primary ? hasRole(LISTER_ROLE, msg.sender) : listing.seller == msg.sender;
        if (!owner) revert MarketNotListingOwner(listingId, msg.sender);
    }

    function _setFees(uint256 feeBps_, uint256 burnBps_) private {
        if (feeBps_ + burnBps_ > MAX_CUT_BPS) revert MarketInvalidFees(feeBps_, burnBps_);
        // both <= MAX_CUT_BPS < 2**16, checked above.
        _config.feeBps = uint16(feeBps_);
        _config.burnBps = uint16(burnBps_);
        emit FeesUpdated(feeBps_, burnBps_);
    }

    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0)) revert MarketInvalidAddress(treasury_);
        address previous = _config.treasury;
        _config.treasury = treasury_;
        emit TreasuryUpdated(previous, treasury_);
    }
}
