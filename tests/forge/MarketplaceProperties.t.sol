// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {FitItems} from "../../contracts/FitItems.sol";
import {FitToken} from "../../contracts/FitToken.sol";
import {Marketplace} from "../../contracts/Marketplace.sol";
import {IFitItems} from "../../contracts/interfaces/IFitItems.sol";
import {IFitToken} from "../../contracts/interfaces/IFitToken.sol";
import {ForgeTest} from "./utils/Vm.sol";

string constant CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

/// @dev Deploys token, items and marketplace with this test contract as admin, minter and lister.
abstract contract MarketFixture is ForgeTest {
    FitToken internal token;
    FitItems internal items;
    Marketplace internal market;
    address internal constant TREASURY = address(0x7EA);

    function _deploy(uint256 feeBps, uint256 burnBps) internal {
        token = new FitToken(address(this), type(uint128).max);
        items = new FitItems(address(this));
        market = new Marketplace(IFitToken(address(token)), IFitItems(address(items)), address(this), TREASURY, feeBps, burnBps);
        token.grantRole(token.MINTER_ROLE(), address(this));
        items.grantRole(items.MINTER_ROLE(), address(market));
        items.grantRole(items.METADATA_ROLE(), address(market));
    }

    function _fund(address account, uint256 amount) internal {
        token.mint(account, amount);
        vm.prank(account);
        token.approve(address(market), type(uint256).max);
    }
}

/// @notice Token conservation in a purchase, for any price, quantity and fee split, primary or resale.
contract MarketplaceConservationTest is MarketFixture {
    address internal constant BUYER = address(0xB0B);
    address internal constant SELLER = address(0x5E11);

    function testFuzz_purchaseConservesTokens(uint96 price, uint64 quantity, uint16 feeBps, uint16 burnBps, bool resale)
        public
    {
        feeBps = uint16(bound(feeBps, 0, 5_000));
        burnBps = uint16(bound(burnBps, 0, 5_000 - feeBps));
        price = uint96(bound(price, 1, 1e30));
        quantity = uint64(bound(quantity, 1, 1_000));
        _deploy(feeBps, burnBps);

        uint256 listingId = resale ? _resaleListing(price, quantity) : market.createListing(7, price, quantity, CID, SELLER);
        uint256 total = uint256(price) * quantity;
        _fund(BUYER, total);

        uint256 supplyBefore = token.totalSupply();
        uint256 sellerBefore = token.balanceOf(SELLER);
        vm.prank(BUYER);
        market.purchase(listingId, quantity, price);

        uint256 buyerLoss = total - token.balanceOf(BUYER);
        uint256 sellerGain = token.balanceOf(SELLER) - sellerBefore;
        uint256 treasuryGain = token.balanceOf(TREASURY);
        uint256 burned = supplyBefore - token.totalSupply();
        assertEq(buyerLoss, total, "buyer pays the full price");
        assertEq(buyerLoss, sellerGain + treasuryGain + burned, "buyer loss == seller + treasury + burned");
        assertEq(treasuryGain, total * feeBps / 10_000, "fee");
        assertEq(burned, total * burnBps / 10_000, "burned");
        assertEq(items.balanceOf(BUYER, 7), quantity, "buyer received the items");
        assertEq(items.balanceOf(address(market), 7), 0, "escrow emptied");
    }

    function _resaleListing(uint96 price, uint64 quantity) internal returns (uint256 listingId) {
        items.mint(SELLER, 7, quantity, "");
        vm.startPrank(SELLER);
        items.setApprovalForAll(address(market), true);
        listingId = market.listForResale(7, quantity, price);
        vm.stopPrank();
    }
}

/// @dev A buyer whose ERC-1155 receive hook tries to buy again while the first purchase runs.
contract ReentrantBuyer is IERC1155Receiver {
    Marketplace internal immutable _market;
    uint256 internal _listingId;

    constructor(Marketplace market) {
        _market = market;
    }

    function buy(uint256 listingId) external {
        _listingId = listingId;
        _market.purchase(listingId, 1, type(uint256).max);
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        _market.purchase(_listingId, 1, type(uint256).max);
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

contract MarketplaceReentrancyTest is MarketFixture {
    function setUp() public {
        _deploy(250, 250);
    }

    function test_reentrantPurchaseFromReceiveHookReverts() public {
        uint256 listingId = market.createListing(1, 10e18, 5, CID, TREASURY);
        ReentrantBuyer attacker = new ReentrantBuyer(market);
        _fund(address(attacker), 100e18);

        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        attacker.buy(listingId);
        assertEq(market.getListing(listingId).remaining, 5, "nothing sold");
    }
}
