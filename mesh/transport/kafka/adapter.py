"""aiokafka adapter: the production transport.

Posture, chosen against aiokafka's weak defaults (ADR 003):
- `acks="all"` (setting `MESH_ACKS`): a publish returns once all in-sync replicas have it.
- no auto-commit: the runtime commits below the lowest in-flight offset itself.
- `auto_offset_reset="earliest"`: a new group reads what was published before it joined;
  a task submitted before its agent's first start is not skipped.
- the producer idempotence flag is a setting (off for the embedded broker, which
  cannot grant producer ids).
- range assignment, not aiokafka's round-robin default: partition N of every topic of
  the group goes to one member, so a task's inbox, retry-tier and journal partitions
  have one owner (mesh/runtime/journal.py relies on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import (
    ConsumerStoppedError,
    IllegalOperation,
    KafkaError,
    TopicAlreadyExistsError,
)
from aiokafka.partitioner import murmur2

from mesh.errors import TransportError
from mesh.settings import Settings
from mesh.transport.base import (
    Consumer,
    Delivery,
    Outgoing,
    PartitionOffsets,
    RebalanceListener,
    TopicPartition,
    TopicSpec,
    Transport,
)
from mesh.transport.kafka._topics import new_topic, refresh_metadata
from mesh.transport.kafka.options import client_options as client_options  # re-exported
from mesh.transport.kafka.options import refused_authentication
from mesh.transport.kafka.pace import FetchPace, fetcher_recheck

if TYPE_CHECKING:
    from mesh.transport.kafka._offsets import OffsetProbes
from mesh.transport.kafka._writer import ProducerWriter

log = logging.getLogger(__name__)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


@contextlib.contextmanager
def _mapped(what: str) -> Iterator[None]:
    """aiokafka's errors become the mesh's `TransportError` at the seam (as httpx maps
    its backends'), so callers catch one family and never an aiokafka type."""
    try:
        yield
    except (KafkaError, ConsumerStoppedError) as exc:  # the latter is no KafkaError
        raise TransportError(f"{what}: {type(exc).__name__}: {exc}") from exc


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, listener: RebalanceListener) -> None:
        self._listener = listener

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._listener.on_revoked(_ours(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._listener.on_assigned(_ours(assigned))


class _CachedPartitioner:
    """Kafka's default murmur2 key partitioner, memoized.

    aiokafka computes murmur2 in pure Python for every record; a task's lifecycle
    records all share its id as key, so most look-ups are repeats.
    """

    def __init__(self, size: int = 65_536) -> None:
        self._partition = functools.lru_cache(maxsize=size)(self._compute)

    @staticmethod
    def _compute(key: bytes, count: int) -> int:
        return int(murmur2(key) & 0x7FFFFFFF) % count

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return int(all_partitions[self._partition(key, len(all_partitions))])


def _ours(partitions: Any) -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(tp.topic, tp.partition) for tp in partitions)


def _delivery(record: Any) -> Delivery:
    return Delivery(
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value,
        # Header names are the same few strings on every record: one copy each, not
        # one per record held by an in-flight task (ADR 033).
        {sys.intern(name): value for name, value in record.headers},
        record.timestamp / 1000,
    )


def _theirs(tp: TopicPartition) -> KafkaTopicPartition:
    return KafkaTopicPartition(tp.topic, tp.partition)


# A follower (no group: a view of whole topics) stays idle through a trickle of records,
# such as the supervisors' status snapshots every 2 s, which would otherwise wake it to
# the short wait for a second in every two; a task's burst of records wakes it (ADR 036).
_FOLLOWER_BUSY_ABOVE = 3


class KafkaConsumer(Consumer):
    def __init__(
        self,
        settings: Settings,
        topics: Sequence[str],
        group: str | None,
        listener: RebalanceListener | None,
    ) -> None:
        self._topics = list(topics)
        self._group = group
        self._listener = listener
        self._consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=_ms(settings.session_timeout),
            heartbeat_interval_ms=_ms(settings.heartbeat_interval),
            max_poll_interval_ms=_ms(settings.max_poll_interval),
            fetch_max_wait_ms=_ms(settings.fetch_max_wait),
            max_poll_records=settings.fetch_max_records,
            partition_assignment_strategy=(RangePartitionAssignor,),
            consumer_timeout_ms=_ms(fetcher_recheck(settings)),
        )
        busy_above = 0 if group is not None else _FOLLOWER_BUSY_ABOVE
        self._pace = FetchPace.of(self._consumer, settings, busy_above=busy_above)

    async def start(self) -> None:
        try:
            await self._consumer.start()
            if self._group is None:
                await self._assign_everything()
            elif self._listener is None:
                self._consumer.subscribe(self._topics)
            else:
                self._consumer.subscribe(self._topics, listener=_Listener(self._listener))
        except KafkaError as exc:
            await self._consumer.stop()
            raise TransportError(f"cannot consume {self._topics!r}: {exc}") from exc
        except TransportError:
            await self._consumer.stop()  # e.g. a missing topic: do not leak the connections
            raise

    async def _assign_everything(self) -> None:
        """A reader without a group owns every partition, known before `start` returns."""
        await refresh_metadata(self._consumer)
        partitions = []
        for topic in self._topics:
            ids = self._consumer.partitions_for_topic(topic)
            if ids is None:
                raise TransportError(f"topic {topic!r} does not exist")
            partitions += [KafkaTopicPartition(topic, i) for i in sorted(ids)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def fetch(self, *, timeout: float, max_records: int) -> list[Delivery]:
        with _mapped(f"cannot fetch from {self._topics!r}"):
            batches = await self._consumer.getmany(timeout_ms=_ms(timeout), max_records=max_records)
        deliveries = [_delivery(record) for records in batches.values() for record in records]
        self._pace.saw(len(deliveries))
        return deliveries

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit({_theirs(tp): offset for tp, offset in offsets.items()})
        except (KafkaError, IllegalOperation) as exc:  # IllegalOperation: no group to commit to
            raise TransportError(f"commit failed: {exc}") from exc

    def pause(self) -> None:
        # aiokafka pauses by partition; pausing the current assignment is what we mean,
        # and `on_assigned` of the runtime re-pauses after a rebalance when needed.
        self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(*self._consumer.assignment())

    def assignment(self) -> frozenset[TopicPartition]:
        return _ours(self._consumer.assignment())

    async def start_offsets(self) -> dict[TopicPartition, int]:
        assigned = list(self._consumer.assignment())
        if not assigned:
            return {}
        with _mapped(f"cannot read the start offsets of {self._topics!r}"):
            starts = await self._consumer.beginning_offsets(assigned)
        return {TopicPartition(tp.topic, tp.partition): offset for tp, offset in starts.items()}

    async def end_offsets(self) -> dict[TopicPartition, int]:
        assigned = list(self._consumer.assignment())
        if not assigned:
            return {}
        with _mapped(f"cannot read the end offsets of {self._topics!r}"):
            ends = await self._consumer.end_offsets(assigned)
        return {TopicPartition(tp.topic, tp.partition): offset for tp, offset in ends.items()}


class KafkaTransport(Transport):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._writer: ProducerWriter | None = None
        self._offset_probes: OffsetProbes | None = None

    async def start(self) -> None:
        s = self._settings
        producer = AIOKafkaProducer(
            **client_options(s),
            acks="all" if s.acks == "all" else int(s.acks),
            enable_idempotence=s.idempotent_producer,
            linger_ms=_ms(s.linger),
            max_request_size=s.max_message_bytes + 64 * 1024,
            max_batch_size=s.producer_batch_bytes,
            partitioner=_CachedPartitioner(),
        )
        try:
            with refused_authentication(s):
                await producer.start()
        except (KafkaError, TransportError) as exc:
            await producer.stop()
            if isinstance(exc, TransportError):
                raise
            hint = "check MESH_BOOTSTRAP_SERVERS"
            if s.idempotent_producer:  # the embedded broker refuses InitProducerId
                hint += (
                    "; if this broker cannot grant producer ids (the embedded one "
                    "cannot), set MESH_IDEMPOTENT_PRODUCER=false"
                )
            raise TransportError(
                f"cannot reach the broker at {s.bootstrap_servers!r}: {exc}; {hint}"
            ) from exc
        self._producer = producer
        self._writer = ProducerWriter(
            producer, max_pending=s.producer_max_pending, broker=s.bootstrap_servers
        )
        self._writer.start()

    async def stop(self) -> None:
        if self._offset_probes is not None:
            await self._offset_probes.close()
            self._offset_probes = None
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        admin = AIOKafkaAdminClient(**client_options(self._settings))
        try:
            with _mapped("cannot create topics"), refused_authentication(self._settings):
                await admin.start()
                existing = set(await admin.list_topics())
                missing = [spec for spec in specs if spec.name not in existing]
                if missing:
                    await self._create(admin, missing)
        finally:
            await admin.close()

    async def _create(self, admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> None:
        response = await admin.create_topics([new_topic(spec) for spec in specs])
        for name, code, message in response.topic_errors:
            if code not in (0, TopicAlreadyExistsError.errno):
                raise TransportError(f"cannot create topic {name!r}: {message} (code {code})")
        log.info("created topics %s", [spec.name for spec in specs])

    async def publish(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        await self.publish_many([Outgoing(topic, value, key, headers or {})])

    async def publish_many(self, records: Sequence[Outgoing]) -> None:
        if self._writer is None:
            raise TransportError("publish before start(); use `async with` or call start()")
        await self._writer.write(records)

    def consumer(
        self,
        topics: Sequence[str],
        *,
        group: str | None,
        listener: RebalanceListener | None = None,
    ) -> Consumer:
        return KafkaConsumer(self._settings, topics, group, listener)

    async def offsets(
        self, topics: Sequence[str], *, group: str | None = None
    ) -> list[PartitionOffsets]:
        if self._offset_probes is None:
            from mesh.transport.kafka._offsets import OffsetProbes  # imports this module

            self._offset_probes = OffsetProbes(client_options(self._settings))
        return await self._offset_probes.read(topics, group)

    async def read_partitions(
        self, partitions: Sequence[TopicPartition], *, timeout: float = 60.0
    ) -> list[Delivery]:
        if not partitions:
            return []
        consumer = AIOKafkaConsumer(
            **client_options(self._settings),
            enable_auto_commit=False,
            fetch_max_wait_ms=_ms(self._settings.fetch_max_wait),
        )
        try:
            with _mapped(f"cannot read {list(partitions)!r}"):
                await consumer.start()
                async with asyncio.timeout(timeout):
                    return await _read_to_end(consumer, [_theirs(tp) for tp in partitions])
        except TimeoutError:
            raise TransportError(
                f"reading {list(partitions)!r} to their end took over {timeout:g} s"
            ) from None
        finally:
            await consumer.stop()


async def _read_to_end(
    consumer: AIOKafkaConsumer, theirs: list[KafkaTopicPartition]
) -> list[Delivery]:
    """Every record from each partition's log start to its end offset at the call.

    Done is where the consumer's *position* reaches the end, not where a record was
    seen: a partition whose records all expired or were compacted away (start = end >
    0), or whose tail holds no records (transaction markers), has no last record.
    """
    consumer.assign(theirs)
    await consumer.seek_to_beginning(*theirs)
    starts = await consumer.beginning_offsets(theirs)
    ends = await consumer.end_offsets(theirs)
    remaining = {tp for tp in theirs if ends[tp] > starts[tp]}
    records: list[Delivery] = []
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=1000)
        for batch in batches.values():
            records += [_delivery(r) for r in batch]
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
    return records
