"""Order receipts: one per OrderCreated event, written by the consumer in its transaction and read by
the buyer and seller over the API."""

from fitmint.events import OrderCreated


async def _product_name(connection, item_id: int) -> str | None:
    from backend.app.catalog.service import product_for_item  # the catalog owns products

    product = await product_for_item(connection, item_id)
    return product["name"] if product else None


async def receipt_for(connection, event_id: str, order: OrderCreated) -> dict:
    """The receipt of the OrderCreated event `event_id` (stored on first sight)."""
    total = int(order.unit_price) * int(order.quantity)
    row = await connection.fetchrow(
        "INSERT INTO order_receipts (event_id, order_id, listing_id, buyer, seller, item_id, quantity, unit_price, "
        "total, fee, burned, product_name, block_number, tx_hash) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, "
        "$10, $11, $12, $13, $14) ON CONFLICT (event_id) DO UPDATE SET event_id = EXCLUDED.event_id RETURNING *",
        event_id, order.order_id, order.listing_id, order.buyer.lower(), order.seller.lower(), int(order.item_id),
        int(order.quantity), int(order.unit_price), total, int(order.fee), int(order.burned),
        await _product_name(connection, int(order.item_id)), order.block_number, order.tx_hash)
    return as_receipt(row)


def as_receipt(row) -> dict:
    numbers = ("item_id", "quantity", "unit_price", "total", "fee", "burned")
    receipt = {key: (str(int(row[key])) if key in numbers else row[key]) for key in (
        "order_id", "listing_id", "buyer", "seller", "item_id", "product_name", "quantity", "unit_price", "total",
        "fee", "burned", "block_number", "tx_hash", "status")}
    receipt["event_id"] = str(row["event_id"])
    receipt["seller_proceeds"] = str(int(row["total"]) - int(row["fee"]) - int(row["burned"]))
    receipt["created_at"] = row["created_at"].isoformat()
    return receipt


async def receipts_of_order(connection, order_id: int) -> list[dict]:
    rows = await connection.fetch("SELECT * FROM order_receipts WHERE order_id = $1 ORDER BY created_at DESC", order_id)
    return [as_receipt(row) for row in rows]
