// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IMarketplace} from "../../contracts/interfaces/IMarketplace.sol";
import {CID, MarketFixture} from "./MarketplaceProperties.t.sol";

/// @dev A minimal smart-contract wallet: its owner's ECDSA signature is the wallet's (ERC-1271); it
/// accepts ERC-1155 items and lets its owner make calls (here: approve the marketplace on FIT).
contract OwnedWallet is IERC1271, IERC1155Receiver {
    address internal immutable _owner;

    constructor(address owner) {
        _owner = owner;
    }

    function execute(address target, bytes calldata data) external {
        require(msg.sender == _owner, "not the owner");
        (bool ok,) = target.call(data);
        require(ok, "call failed");
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && signer == _owner ? this.isValidSignature.selector : bytes4(0);
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external pure returns (bytes4) {
        return this.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(address, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        pure
        returns (bytes4)
    {
        return this.onERC1155BatchReceived.selector;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC1155Receiver).interfaceId;
    }
}

/// @notice Signed purchase intents: for any signer, relayer and terms, an intent pays from and delivers
/// to its signer only, executes once, and any change to a signed term is refused.
contract MarketplaceIntentsTest is MarketFixture {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    address internal constant SELLER = address(0x5E11);
    uint256 internal constant PRICE = 10e18;
    uint256 internal listingId;

    function setUp() public {
        _deploy(250, 250);
        listingId = market.createListing(7, PRICE, 1_000, CID, SELLER);
    }

    function _intent(address buyer, uint256 quantity) internal view returns (IMarketplace.PurchaseIntent memory) {
        return IMarketplace.PurchaseIntent({
            buyer: buyer,
            listingId: listingId,
            quantity: quantity,
            maxUnitPrice: PRICE,
            nonce: market.nonces(buyer),
            deadline: block.timestamp + 600
        });
    }

    function _sign(uint256 key, IMarketplace.PurchaseIntent memory intent) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, market.hashPurchaseIntent(intent));
        return abi.encodePacked(r, s, v);
    }

    function _key(uint256 seed) internal pure returns (uint256) {
        return bound(seed, 1, SECP256K1_N - 1);
    }

    function testFuzz_intentPaysAndDeliversToItsSignerOnce(uint256 keySeed, address relayer, uint256 quantity) public {
        uint256 key = _key(keySeed);
        address buyer = vm.addr(key);
        quantity = bound(quantity, 1, 20);
        vm.assume(relayer != buyer && relayer != SELLER && relayer != TREASURY && relayer != address(0));
        vm.assume(relayer.code.length == 0 && relayer != address(vm));
        _fund(buyer, quantity * PRICE);

        IMarketplace.PurchaseIntent memory intent = _intent(buyer, quantity);
        bytes memory signature = _sign(key, intent);
        vm.prank(relayer);
        market.executePurchaseIntent(intent, signature);

        assertEq(token.balanceOf(buyer), 0, "buyer paid the whole price");
        assertEq(items.balanceOf(buyer, 7), quantity, "buyer received the items");
        assertEq(token.balanceOf(relayer), 0, "relayer gained no FIT");
        assertEq(items.balanceOf(relayer, 7), 0, "relayer gained no items");
        assertEq(market.nonces(buyer), 1, "nonce used");

        _fund(buyer, quantity * PRICE); // allowance and balance for a replay: only the nonce may stop it
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, buyer, 1));
        vm.prank(relayer);
        market.executePurchaseIntent(intent, signature);
    }

    function testFuzz_intentSignedByAnotherKeyIsRefused(uint256 signerSeed, uint256 buyerSeed) public {
        uint256 signerKey = _key(signerSeed);
        address buyer = vm.addr(_key(buyerSeed));
        vm.assume(buyer != vm.addr(signerKey));
        _fund(buyer, PRICE);

        IMarketplace.PurchaseIntent memory intent = _intent(buyer, 1);
        bytes memory signature = _sign(signerKey, intent);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketInvalidIntentSignature.selector, buyer));
        market.executePurchaseIntent(intent, signature);
    }

    /// @dev One signed term changed by a non-zero `delta`: buyer, listing, quantity, price limit, nonce
    /// (its sequence, or its key to a fresh key's first nonce) or deadline. A wrong sequence fails the
    /// nonce check first; every other change fails the signature.
    function testFuzz_tamperedIntentIsRefused(uint256 keySeed, uint8 field, uint256 delta) public {
        uint256 key = _key(keySeed);
        address buyer = vm.addr(key);
        _fund(buyer, 1_000 * PRICE);
        delta = bound(delta, 1, type(uint128).max);

        IMarketplace.PurchaseIntent memory intent = _intent(buyer, 1);
        bytes memory signature = _sign(key, intent);
        field = uint8(bound(field, 0, 6));
        bytes memory expected = abi.encodeWithSelector(IMarketplace.MarketInvalidIntentSignature.selector, buyer);
        if (field == 0) {
            intent.buyer = address(uint160(buyer) ^ uint160(delta));
            if (intent.buyer == address(0)) intent.buyer = address(1);
            expected = abi.encodeWithSelector(IMarketplace.MarketInvalidIntentSignature.selector, intent.buyer);
        } else if (field == 1) {
            intent.listingId += delta;
        } else if (field == 2) {
            intent.quantity += delta;
        } else if (field == 3) {
            intent.maxUnitPrice += delta;
        } else if (field == 4) {
            intent.nonce += bound(delta, 1, type(uint64).max);
            expected = abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, buyer, 0);
        } else if (field == 5) {
            intent.nonce = bound(delta, 1, type(uint128).max) << 64; // another key's first nonce: a valid nonce
        } else {
            intent.deadline += delta;
        }
        vm.expectRevert(expected);
        market.executePurchaseIntent(intent, signature);
        assertEq(market.nonces(buyer), 0, "nonce untouched");
        assertEq(market.nonces(buyer, uint192(intent.nonce >> 64)), intent.nonce >> 64 << 64, "keyed nonce untouched");
    }

    /// @dev Intents of different keys execute in any order, each once.
    function testFuzz_keyedIntentsAreIndependent(uint256 keySeed, uint192 key) public {
        uint256 signerKey = _key(keySeed);
        address buyer = vm.addr(signerKey);
        key = uint192(bound(key, 1, type(uint192).max));
        _fund(buyer, 2 * PRICE);

        IMarketplace.PurchaseIntent memory plain = _intent(buyer, 1);
        IMarketplace.PurchaseIntent memory keyed = _intent(buyer, 1);
        keyed.nonce = market.nonces(buyer, key);
        assertEq(keyed.nonce, uint256(key) << 64, "a fresh key starts at sequence 0");
        bytes memory keyedSignature = _sign(signerKey, keyed);

        market.executePurchaseIntent(keyed, keyedSignature);
        market.executePurchaseIntent(plain, _sign(signerKey, plain));
        assertEq(items.balanceOf(buyer, 7), 2, "both executed");
        assertEq(market.nonces(buyer), 1, "key 0 moved once");
        assertEq(market.nonces(buyer, key), (uint256(key) << 64) | 1, "the key moved once");

        _fund(buyer, PRICE);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, buyer, (uint256(key) << 64) | 1));
        market.executePurchaseIntent(keyed, keyedSignature);
    }

    function testFuzz_expiredIntentIsRefused(uint256 keySeed, uint256 late) public {
        uint256 key = _key(keySeed);
        address buyer = vm.addr(key);
        _fund(buyer, PRICE);
        IMarketplace.PurchaseIntent memory intent = _intent(buyer, 1);
        bytes memory signature = _sign(key, intent);

        vm.warp(intent.deadline); // the deadline itself is still valid
        market.executePurchaseIntent(intent, signature);

        intent = _intent(buyer, 1);
        signature = _sign(key, intent);
        _fund(buyer, PRICE);
        vm.warp(intent.deadline + bound(late, 1, 365 days));
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketIntentExpired.selector, intent.deadline));
        market.executePurchaseIntent(intent, signature);
    }

    function test_erc1271WalletBuysByIntent() public {
        uint256 ownerKey = 0xA11CE;
        OwnedWallet wallet = new OwnedWallet(vm.addr(ownerKey));
        token.mint(address(wallet), 3 * PRICE);
        vm.prank(vm.addr(ownerKey));
        wallet.execute(address(token), abi.encodeCall(token.approve, (address(market), type(uint256).max)));

        IMarketplace.PurchaseIntent memory intent = _intent(address(wallet), 2);
        // Another key's signature is not the wallet's.
        bytes memory forged = _sign(0xB0B, intent);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketInvalidIntentSignature.selector, address(wallet)));
        market.executePurchaseIntent(intent, forged);

        market.executePurchaseIntent(intent, _sign(ownerKey, intent));
        assertEq(items.balanceOf(address(wallet), 7), 2, "wallet received the items");
        assertEq(token.balanceOf(address(wallet)), PRICE, "wallet paid");
        assertEq(items.balanceOf(address(this), 7), 0, "relayer received nothing");
        assertEq(market.nonces(address(wallet)), 1, "wallet nonce used");
    }
}
