"""Backfill, then follow the head: fetch logs in adaptive ranges, detect reorgs by block hash, hand
each range to the store as one transaction. At the head, a newHeads subscription (fitmint.chain.heads)
wakes the loop as each block is added and brings the block's header; without one, the loop polls."""

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx

from fitmint import telemetry
from fitmint.chain.heads import HeadSubscription
from fitmint.chain.manifest import Manifest
from fitmint.chain.rpc import RangeTooLarge, ResponseTooLarge, Rpc
from indexer import metrics, tracing
from indexer.batches import write_batch
from indexer.cursor import Cursor, load_cursor, stored_hash
from indexer.decode import DecodeError, LogDecoder
from indexer.projections import Projection, Projector
from indexer.reorg import revert_to

log = logging.getLogger("indexer.sync")


def _extends(announced: dict | None, cursor: Cursor) -> bool:
    """The node announced the block right after the cursor, as its child: the cursor is canonical (no
    need to ask the node for the cursor's block again)."""
    return (announced is not None and announced["number"] == cursor.block_number + 1
            and announced["parent_hash"] == cursor.block_hash)


async def _known(header: dict) -> dict:
    return header


def _share_that_fits(refusal: RangeTooLarge) -> float:
    """The part of a refused range to ask for next: of an answer over the byte cap whose length the node
    announced, the share under the cap (with a margin: logs are not spread evenly); of a range the node
    could not answer in time, an eighth (measured on Anvil: 1M logs, ~630 MB, take it past 10 s, an eighth
    of them ~1 s); else half."""
    if isinstance(refusal, ResponseTooLarge) and refusal.size:
        return min(0.5, 0.8 * refusal.limit / refusal.size)
    return 0.125 if refusal.timed_out else 0.5


class DeepReorgError(RuntimeError):
    """A reorg deeper than the configured depth: the indexer stops instead of guessing."""


class ChainMovedError(RuntimeError):
    """The chain changed while a range was being read (a log's block hash is not the header's)."""


RETRY_NODE_LIMIT_AFTER = 8


@dataclass
class RangeSizer:
    """eth_getLogs block ranges aimed at `target_logs` per range: sized from the last range's log
    density (at most doubling, at most `maximum` blocks). A refused range is cut to the share that would
    pass (`refused`), and ranges do not grow past that again until the refused range's blocks are read
    (a few logs in its first blocks say nothing of the rest); a node's own limit ("too many results",
    "block range too large") holds for the next RETRY_NODE_LIMIT_AFTER ranges, then a larger range is
    tried again (one refusal in nine at worst, and quiet stretches are not crawled forever at what a
    dense one allowed)."""

    size: int
    maximum: int
    target_logs: int
    ceiling: int | None = None  # after a refusal: until block `ceiling_until` is read
    ceiling_until: int = -1
    limit: int | None = None  # the node's: what it refused, cut
    answered: int = 0  # ranges answered since the node's last refusal

    def succeeded(self, blocks: int, logs: int, last_block: int | None = None):
        proposed = self.size * 2 if logs == 0 else blocks * self.target_logs // logs
        if last_block is None or last_block >= self.ceiling_until:
            self.ceiling = None
        self.answered += 1
        if self.answered >= RETRY_NODE_LIMIT_AFTER:
            self.limit = None
        self.size = max(1, min(self.maximum, self.limit or self.maximum, self.ceiling or self.maximum,
                               self.size * 2, proposed))

    def refused(self, blocks: int | None = None, fits: float = 0.5, by_node: bool = True,
                last_block: int | None = None):
        """The range of `blocks` (default: the current size) ending at `last_block` was refused; `fits`
        of it would pass."""
        blocks = blocks or self.size
        if blocks == 1:
            raise RuntimeError("the node refuses even a one-block eth_getLogs range")
        self.size = self.ceiling = max(1, min(blocks - 1, int(blocks * fits)))
        self.ceiling_until = last_block if last_block is not None else -1
        if by_node:
            self.limit, self.answered = self.size, 0


class Progress:
    def __init__(self, start_block: int):
        self.started = time.monotonic()
        self.start_block = start_block
        self.events = 0
        self.last_report = 0.0

    def report(self, block: int, head: int, events: int, force: bool = False):
        self.events += events
        now = time.monotonic()
        if not force and now - self.last_report < 2:
            return
        self.last_report = now
        elapsed = max(now - self.started, 1e-9)
        blocks_per_s = (block - self.start_block) / elapsed
        eta = (head - block) / blocks_per_s if blocks_per_s > 0 else float("inf")
        log.info("block %d/%d  %.0f blocks/s  %.0f events/s  ETA %s", block, head, blocks_per_s,
                 self.events / elapsed, f"{eta:.0f}s" if eta != float("inf") else "-")


@dataclass
class Batch:
    projection: "Projection"
    blocks: list[tuple]
    skipped: list[tuple]
    cursor: Cursor
    parent: Cursor  # the cursor the range extends: the write is fenced on it


class ChainSync:
    """`health` (a fitmint.resilience.Retrier) hears of each round trip to the node and the database;
    `writer` (indexer.writer.WriterLock) is checked before every write; `heads`, a started
    HeadSubscription, replaces the sleep between looks at the head (None: poll every poll_interval)."""

    def __init__(self, *, settings, rpc: Rpc, pool, manifest: Manifest, health=None, writer=None,
                 heads: HeadSubscription | None = None):
        self.settings = settings
        self.rpc = rpc
        self.heads = heads
        self.pool = pool
        self.manifest = manifest
        self.health = health
        self.writer = writer
        self.decoder = LogDecoder(manifest)
        self.projector = Projector(manifest.chain_id)
        self.sizer = RangeSizer(settings.initial_range, settings.max_range, settings.target_logs_per_range)
        # Set after every committed write or revert: the relay in the same process wakes at once instead
        # of at its next outbox poll (measured: ~25 ms of the mined -> Kafka latency).
        self.written = asyncio.Event()

    async def cursor(self) -> Cursor:
        async with self.pool.acquire() as connection:
            cursor = await load_cursor(connection, self.manifest.chain_id)
        self._reached("postgres")
        if cursor is None:
            start = self.manifest.deploy_block - 1
            header = await self.rpc.header(start)
            cursor = Cursor(start, header["hash"])
        return cursor

    async def run(self, *, until_block: int | None = None, stop: asyncio.Event | None = None):
        """Index until `until_block` (then return) or forever; `stop` ends the loop between batches.

        Far below the head (deeper than the reorg window), the next range is fetched and decoded while
        the previous one is being written: PostgreSQL and this process work at the same time."""
        cursor = await self.cursor()
        progress = Progress(cursor.block_number)
        pending: asyncio.Task | None = None  # the write of the previous deep range
        timed_out = True  # the last wait for a head ended without an announcement: ask the node
        try:
            while not (stop and stop.is_set()):
                seen = self.heads.announced if self.heads else 0
                if not timed_out and until_block is None and self._at_announced_head(cursor):
                    timed_out = await self._next_head(seen)  # nothing new announced: no round trip
                    continue
                announced = self._announced_after(cursor)
                if announced is not None:
                    head = announced["number"]
                else:
                    head = await self.rpc.block_number()
                    self._reached("rpc")
                metrics.HEAD.set(head)
                target = head if until_block is None else min(head, until_block)
                deep_limit = head - self.settings.reorg_depth
                if pending is None and not _extends(announced, cursor):
                    cursor = await self._check_reorg(cursor)
                if cursor.block_number >= target:
                    if until_block is not None and cursor.block_number >= until_block:
                        progress.report(cursor.block_number, head, 0, force=True)
                        return cursor
                    timed_out = await self._next_head(seen)
                    continue
                timed_out = False
                to_block = min(target, cursor.block_number + self.sizer.size)
                started = time.time_ns()
                try:
                    batch = await self._prepare(cursor, to_block, head, announced)
                except RangeTooLarge as exc:
                    blocks = to_block - cursor.block_number
                    if exc.timed_out and blocks == 1:  # not the range: the node is not answering
                        raise httpx.ReadTimeout(f"eth_getLogs of one block: {exc.message}") from exc
                    log.info("range of %d blocks refused (%s): shrinking", blocks, exc.message)
                    self.sizer.refused(blocks, _share_that_fits(exc), last_block=to_block,
                                       by_node=not (exc.timed_out or isinstance(exc, ResponseTooLarge)))
                    continue
                except ChainMovedError as exc:
                    log.warning("%s: re-reading the range", exc)
                    pending = await self._settle(pending)
                    continue
                self._reached("rpc")
                pending = await self._settle(pending)
                if to_block <= deep_limit:
                    pending = asyncio.create_task(self._write(batch))
                else:
                    await self._write(batch, started)
                cursor = batch.cursor
                metrics.CURSOR.set(cursor.block_number)
                metrics.LAG.set(head - cursor.block_number)
                metrics.LAG_SECONDS.set(await self._seconds_behind(head, batch))
                progress.report(cursor.block_number, head, len(batch.projection.events))
            return cursor
        finally:
            await self._settle(pending)

    def _announced_after(self, cursor: Cursor) -> dict | None:
        """The subscription's latest header if it is past the cursor (the head to index up to)."""
        if self.heads is None or not self.heads.live or self.heads.latest is None:
            return None
        latest = self.heads.latest
        return latest if latest["number"] > cursor.block_number else None

    def _at_announced_head(self, cursor: Cursor) -> bool:
        """The cursor is the block the subscription announced last: the head as the node told it."""
        latest = self.heads.latest if self.heads is not None and self.heads.live else None
        return latest is not None and (latest["number"], latest["hash"]) == (cursor.block_number, cursor.block_hash)

    async def _next_head(self, seen: int) -> bool:
        """Waits for the next head; True if none was announced meanwhile (polling, or the safety look)."""
        if self.heads is None:
            await asyncio.sleep(self.settings.poll_interval)
            return True
        await self.heads.next_head(seen, self.settings.poll_interval, self.settings.head_check_interval)
        return self.heads.announced == seen

    _head_time: tuple[int, int] = (-1, 0)  # (the head block, its timestamp): read once per head

    async def _seconds_behind(self, head: int, batch: "Batch") -> int:
        """The head block's timestamp minus the batch's last block's (0 when the batch reached the head)."""
        if batch.cursor.block_number >= head:
            return 0
        if self._head_time[0] != head:
            header = await self.rpc.header(head)
            if header is not None:  # else (not served yet) an earlier head's time: a lower bound
                self._head_time = (head, header["timestamp"])
        return max(0, self._head_time[1] - batch.blocks[-1][3])

    @staticmethod
    async def _settle(pending: asyncio.Task | None) -> None:
        if pending is not None:
            await pending
        return None

    async def _prepare(self, cursor: Cursor, to_block: int, head: int, announced: dict | None = None) -> "Batch":
        """Fetches and decodes one range; nothing is written yet. `announced`: the head's header as the
        subscription brought it (not fetched again)."""
        from_block = cursor.block_number + 1
        logs = await self.rpc.get_logs(self.manifest.addresses, from_block, to_block,
                                       self.settings.max_response_bytes)
        self.sizer.succeeded(to_block - from_block + 1, len(logs), to_block)

        # Near the head every block's header is kept (reorg detection needs the parent links);
        # deeper ranges keep only the last block's and those of blocks with events (from the logs).
        first_header = max(from_block, head - self.settings.reorg_depth)
        numbers = range(first_header, to_block + 1) if first_header <= to_block else [to_block]
        headers = await asyncio.gather(*(_known(announced) if announced is not None and announced["number"] == n
                                         else self.rpc.header(n) for n in numbers))
        if any(h is None for h in headers):
            raise ChainMovedError(f"blocks up to {to_block} are not all available yet")
        by_number = {h["number"]: h for h in headers}
        first = headers[0]
        if first["number"] == from_block and first["parent_hash"] != cursor.block_hash:
            raise ChainMovedError(f"block {from_block} does not extend the indexed block {cursor.block_number}")

        projection, skipped = Projection(), []
        block_rows = {n: (n, h["hash"], h["parent_hash"], h["timestamp"]) for n, h in by_number.items()}
        decode, add = self.decoder.decode, self.projector.add
        add_transfer, transfer_topic = self.projector.add_token_transfer, self.decoder.transfer_topic
        token = self.decoder.token_address
        for raw in logs:
            try:
                topics = raw.topics
                if topics and topics[0] == transfer_topic and raw.address.lower() == token:
                    add_transfer(projection, raw)
                else:
                    add(projection, decode(raw))
            except DecodeError as exc:
                number, index = int(raw.blockNumber, 16), int(raw.logIndex, 16)
                metrics.SKIPPED.inc()
                log.warning("skipping log %s:%s at %s: %s", number, index, raw.address, exc)
                skipped.append((number, index, raw.address.lower(), str(exc)))
                continue
            row = projection.events[-1]
            number, block_hash = row[0], row[2]
            header = by_number.get(number)
            if header is None:
                if number not in block_rows:
                    block_rows[number] = (number, block_hash, None, int(raw.blockTimestamp or "0x0", 16))
            elif header["hash"] != block_hash:
                raise ChainMovedError(f"block {number} changed while reading logs")
        return Batch(projection, sorted(block_rows.values()), skipped, Cursor(to_block, by_number[to_block]["hash"]),
                     cursor)

    def _reached(self, dependency: str) -> None:
        if self.health is not None:
            self.health.progressed(dependency)

    def _check_writer(self) -> None:
        if self.writer is not None:
            self.writer.check()

    async def _write(self, batch: "Batch", started: int | None = None) -> None:
        """Writes a batch; `started` (a head batch's: when its logs were fetched) traces its transactions
        if the batch is small (indexer/tracing.py)."""
        self._check_writer()
        spans = []
        if started is not None and tracing.traced(len(batch.projection.events), self.settings.trace_max_logs):
            spans = tracing.start_transaction_spans(batch.projection, self.manifest.chain_id, started)
        try:
            async with self.pool.acquire() as connection:
                await write_batch(connection, chain_id=self.manifest.chain_id, projection=batch.projection,
                                  blocks=batch.blocks, skipped=batch.skipped, cursor=batch.cursor,
                                  parent=batch.parent)
        except BaseException as exc:
            telemetry.end_spans(spans, exc)
            raise
        telemetry.end_spans(spans)
        self._reached("postgres")
        self.written.set()
        metrics.EVENTS.inc(len(batch.projection.events))

    async def _check_reorg(self, cursor: Cursor) -> Cursor:
        header = await self.rpc.header(cursor.block_number)
        if header is not None and header["hash"] == cursor.block_hash:
            return cursor
        ancestor = await self._find_ancestor(cursor)
        self._check_writer()
        async with self.pool.acquire() as connection:
            undone = await revert_to(connection, chain_id=self.manifest.chain_id, ancestor=ancestor, current=cursor)
        self.written.set()
        metrics.REORGS.inc()
        log.warning("reorg: block %d is no longer canonical; reverted to %d (%d events undone)",
                    cursor.block_number, ancestor.block_number, undone)
        return ancestor

    async def _find_ancestor(self, cursor: Cursor) -> Cursor:
        lowest = max(self.manifest.deploy_block - 1, cursor.block_number - self.settings.reorg_depth)
        async with self.pool.acquire() as connection:
            for number in range(cursor.block_number - 1, lowest - 1, -1):
                ours = await stored_hash(connection, number)
                if ours is None:
                    if number == self.manifest.deploy_block - 1:
                        header = await self.rpc.header(number)
                        return Cursor(number, header["hash"])
                    continue
                theirs = await self.rpc.header(number)
                if theirs is not None and theirs["hash"] == ours:
                    return Cursor(number, ours)
        raise DeepReorgError(
            f"block {cursor.block_number} was reorged and no common ancestor was found within "
            f"{self.settings.reorg_depth} blocks: stopping (raise REORG_DEPTH or re-index from scratch)")
