"""Each service of `make up` is the real thing: a round trip through its own protocol."""

import asyncio
import hashlib
import json
import uuid
from datetime import UTC
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from multiformats import CID, multihash

from fitmint.chain.manifest import Manifest
from fitmint.settings import KernelSettings


def test_anvil_serves_the_deployed_contracts(running_stack):
    settings = running_stack
    rpc = settings["FITMINT_RPC_URL"]

    def call(method, *params):
        response = httpx.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        return response.json()["result"]

    assert int(call("eth_chainId"), 16) == 31337
    assert int(call("eth_blockNumber"), 16) > 0
    state = KernelSettings(fitmint_state_dir=Path(settings["FITMINT_STATE_DIR"]), manifest=None)
    manifest = Manifest.read(state.manifest_path(31337))
    for name, contract in manifest.contracts.items():
        assert len(call("eth_getCode", contract.checksum_address, "latest")) > 2, f"{name} has no code"
    block = call("eth_getBlockByNumber", hex(manifest.deploy_block), False)
    assert block["hash"] == manifest.deploy_block_hash

    # `make up` ends with the admin behind the timelock: it holds DEFAULT_ADMIN_ROLE, the deployer does not.
    assert manifest.timelock is not None and manifest.roles.admin == [manifest.timelock.checksum_address]
    assert len(call("eth_getCode", manifest.timelock.checksum_address, "latest")) > 2
    for name, contract in manifest.contracts.items():
        for holder, expected in ((manifest.timelock.address, 1), (manifest.deployer.lower(), 0)):
            has_role = "0x91d14854" + "00" * 32 + "00" * 12 + holder[2:]  # hasRole(DEFAULT_ADMIN_ROLE, holder)
            answer = call("eth_call", {"to": contract.checksum_address, "data": has_role}, "latest")
            assert int(answer, 16) == expected, f"{name}: {holder} admin? expected {bool(expected)}"


def test_kafka_round_trip_with_a_consumer_group_and_committed_offsets(running_stack):
    bootstrap = f"127.0.0.1:{running_stack['KAFKA_PORT']}"
    topic, group = f"test.roundtrip.{uuid.uuid4().hex[:8]}", f"test-group-{uuid.uuid4().hex[:8]}"
    sent = {f"key-{i % 7}".encode(): [] for i in range(7)}

    async def scenario():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        finally:
            await admin.close()

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
        await producer.start()
        try:
            for i in range(300):
                key = f"key-{i % 7}".encode()
                value = json.dumps({"seq": i}).encode()
                await asyncio.wait_for(producer.send_and_wait(topic, value, key=key), 10)
                sent[key].append(i)
        finally:
            await asyncio.wait_for(producer.stop(), 10)

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        received = {key: [] for key in sent}
        try:
            while sum(map(len, received.values())) < 300:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                for records in batch.values():
                    for record in records:
                        received[record.key].append(json.loads(record.value)["seq"])
            await consumer.commit()
            partitions = [TopicPartition(topic, p) for p in range(3)]
            end_offsets = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets(group)
            await admin.delete_topics([topic])
        finally:
            await admin.close()
        return received, end_offsets, committed

    received, end_offsets, committed = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert received == sent, "every record arrives once, in order per key"
    assert {tp: meta.offset for tp, meta in committed.items()} == end_offsets
    assert sum(end_offsets.values()) == 300


def test_project_topics_exist_with_configured_partitions(running_stack):
    bootstrap = f"127.0.0.1:{running_stack['KAFKA_PORT']}"

    async def describe():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return await admin.describe_topics(running_stack["KAFKA_TOPICS"].split())
        finally:
            await admin.close()

    topics = asyncio.run(asyncio.wait_for(describe(), 30))
    assert {t["topic"]: len(t["partitions"]) for t in topics} == {
        name: int(running_stack["KAFKA_PARTITIONS"]) for name in running_stack["KAFKA_TOPICS"].split()
    }


def test_kubo_add_cat_pin_with_the_cid_recomputed_locally(running_stack):
    api = f"http://127.0.0.1:{running_stack['IPFS_API_PORT']}/api/v0"
    document = json.dumps({"name": "Trail sneakers", "nonce": uuid.uuid4().hex}, sort_keys=True,
                          separators=(",", ":")).encode()
    with httpx.Client(timeout=10) as client:
        added = client.post(f"{api}/add", params={"cid-version": 1, "pin": "false"},
                            files={"file": ("doc.json", document)}).json()
        expected = CID("base32", 1, "raw", multihash.wrap(hashlib.sha256(document).digest(), "sha2-256"))
        assert added["Hash"] == str(expected)
        assert client.post(f"{api}/cat", params={"arg": added["Hash"]}).content == document
        pinned = client.post(f"{api}/pin/add", params={"arg": added["Hash"]}).json()
        assert pinned["Pins"] == [added["Hash"]]
        listed = client.post(f"{api}/pin/ls", params={"arg": added["Hash"], "type": "recursive"}).json()
        assert added["Hash"] in listed["Keys"]
        # Offline and without the block, a CID it does not have fails at once instead of searching.
        missing = CID("base32", 1, "raw", multihash.wrap(hashlib.sha256(b"absent" + document).digest(), "sha2-256"))
        response = client.post(f"{api}/cat", params={"arg": str(missing)})
        assert response.status_code == 500 and "not found" in response.text


def test_each_database_round_trips_sql(running_stack, secret):
    async def round_trip(database):
        connection = await asyncpg.connect(host="127.0.0.1", port=int(running_stack["POSTGRES_PORT"]),
                                           user=running_stack["POSTGRES_USER"],
                                           password=secret("postgres-password"), database=database)
        try:
            await connection.execute("CREATE TEMP TABLE probe (id serial PRIMARY KEY, body jsonb NOT NULL)")
            await connection.execute("INSERT INTO probe (body) VALUES ($1), ($2)", '{"a": 1}', '{"a": 2}')
            return await connection.fetchval("SELECT sum((body->>'a')::int) FROM probe")
        finally:
            await connection.close()

    for database in running_stack["POSTGRES_DATABASES"].split():
        assert asyncio.run(round_trip(database)) == 3, database


def test_postgres_refuses_a_wrong_password(running_stack):
    async def connect():
        await asyncpg.connect(host="127.0.0.1", port=int(running_stack["POSTGRES_PORT"]),
                              user=running_stack["POSTGRES_USER"], password="wrong", database="postgres")

    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(connect())


def test_redis_round_trip(running_stack):
    client = redis.Redis(host="127.0.0.1", port=int(running_stack["REDIS_PORT"]))
    key = f"test:{uuid.uuid4().hex}"
    assert client.set(key, "42", ex=30)
    assert client.get(key) == b"42"
    assert 0 < client.ttl(key) <= 30
    assert client.delete(key) == 1


def test_acapy_admin_api_requires_the_key(running_stack, secret):
    admin = f"http://127.0.0.1:{running_stack['ACAPY_ADMIN_PORT']}"
    key = {"X-API-Key": secret("acapy-admin-key")}
    ready = httpx.get(f"{admin}/status/ready", headers=key, timeout=10)
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    # ACA-Py leaves its liveness/readiness probes open; everything else needs the key.
    for path in ("/status", "/connections", "/wallet/did"):
        assert httpx.get(f"{admin}{path}", timeout=10).status_code == 401, path
        assert httpx.get(f"{admin}{path}", headers={"X-API-Key": "wrong"}, timeout=10).status_code == 401, path
        assert httpx.get(f"{admin}{path}", headers=key, timeout=10).status_code == 200, path
    status = httpx.get(f"{admin}/status", headers=key, timeout=10).json()
    assert status["label"] == "fitmint"


def test_secrets_are_private_files(running_stack):
    secrets = Path(running_stack["FITMINT_STATE_DIR"]) / "secrets"
    for name in ("postgres-password", "acapy-admin-key", "acapy-wallet-key"):
        assert (secrets / name).stat().st_mode & 0o077 == 0, name


def test_an_email_sent_through_the_stacks_mail_sink_lands_in_its_maildir(running_stack):
    """The worker's own sender, through `make up`'s mail service, read back from its Maildir."""
    import mailbox
    from datetime import datetime

    from backend.app.core.config import Settings
    from backend.app.notifications.email import EmailSender

    settings = Settings(smtp_host="127.0.0.1", smtp_port=int(running_stack["SMTP_PORT"]))
    sender = EmailSender(settings)
    notification = {"id": str(uuid.uuid4()), "kind": "token.minted", "title": "5 FIT received",
                    "body": "5 FIT were minted to you.", "data": {}, "corrects": None,
                    "created_at": datetime.now(UTC)}

    async def send():
        async with sender.connection() as smtp:
            return await smtp.send(sender.compose(notification, "member@example.org"))

    asyncio.run(send())  # a refusal (the sink answering 500) raises SendError
    maildir = mailbox.Maildir(Path(running_stack["FITMINT_STATE_DIR"]) / "mail", create=False)
    delivered = [message for message in maildir if message["Message-ID"] == sender.message_id(notification["id"])]
    assert len(delivered) == 1
    assert delivered[0]["To"] == "member@example.org" and delivered[0]["Subject"]
