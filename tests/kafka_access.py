"""What a mesh process asks of Kafka, seen on the wire: every request its Kafka clients
(aiokafka's producer, consumers and admin client, and faust's, which are aiokafka's)
send, as the ACL a broker checks for it.

`python -m tests.kafka_access LOG mesh-args...` runs `mesh mesh-args...` with each
request recorded as one JSON line in LOG: `[resource_type, name, operation, api]`, the
resource and operation Kafka's authorizer checks for that request (KIP-11 and the
request table of Kafka's docs, "Authorization using ACLs"). The broker stays real; this
only watches what crosses `AIOKafkaConnection.send`, the one method every request goes
through after the connection is set up.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Access = tuple[str, str, str, str]  # resource type, name, operation, request name


def _names(entries: Any) -> Iterator[str]:
    """Topic or group names from a request field: names, or tuples that start with one."""
    for entry in entries or ():
        name = entry if isinstance(entry, str) else entry[0]
        if isinstance(name, str):
            yield name


def needed(api_key: int, request: Any) -> list[Access]:
    """The (resource type, name, operation) Kafka authorizes for one request."""
    field = request.__dict__.get
    topics = list(_names(field("topics")))
    if api_key == 0:  # Produce
        return [("topic", t, "Write", "Produce") for t in topics]
    if api_key == 1:  # Fetch
        return [("topic", t, "Read", "Fetch") for t in topics]
    if api_key == 2:  # ListOffsets
        return [("topic", t, "Describe", "ListOffsets") for t in topics]
    if api_key == 3:  # Metadata: None lists the topics the principal may describe
        return [("topic", t, "Describe", "Metadata") for t in topics]
    if api_key == 8:  # OffsetCommit
        group = field("consumer_group")
        return [("group", group, "Read", "OffsetCommit")] + [
            ("topic", t, "Read", "OffsetCommit") for t in topics
        ]
    if api_key == 9:  # OffsetFetch
        group = field("consumer_group")
        return [("group", group, "Describe", "OffsetFetch")] + [
            ("topic", t, "Describe", "OffsetFetch") for t in topics
        ]
    if api_key == 10:  # FindCoordinator: 0 a group, 1 a transactional id
        kind = "group" if not field("coordinator_type") else "transactional_id"
        return [(kind, field("coordinator_key"), "Describe", "FindCoordinator")]
    if api_key in (11, 12, 13, 14):  # JoinGroup, Heartbeat, LeaveGroup, SyncGroup
        api = {11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup"}[api_key]
        return [("group", field("group"), "Read", api)]
    if api_key == 15:  # DescribeGroups
        return [("group", g, "Describe", "DescribeGroups") for g in _names(field("groups"))]
    if api_key == 16:  # ListGroups: lists the groups the principal may describe
        return []
    if api_key == 19:  # CreateTopics
        created = _names(field("create_topic_requests"))
        return [("topic", t, "Create", "CreateTopics") for t in created]
    if api_key in (17, 18, 36):  # SaslHandshake, ApiVersions, SaslAuthenticate
        return []
    if api_key == 22 and field("transactional_id") is None:  # InitProducerId, idempotent
        return [("cluster", "kafka-cluster", "IdempotentWrite", "InitProducerId")]
    return [("unknown", str(api_key), "Unknown", type(request).__name__)]


def install(log: Path) -> None:
    """Record every request of this process's Kafka clients to `log` (JSON lines)."""
    from aiokafka.conn import AIOKafkaConnection

    send = AIOKafkaConnection.send
    out = log.open("a", buffering=1)

    def recording_send(self: Any, request: Any, expect_response: bool = True) -> Any:
        built = request.prepare(self._versions)
        for access in needed(request.API_KEY, built):
            out.write(json.dumps(access) + "\n")
        return send(self, request, expect_response)

    AIOKafkaConnection.send = recording_send  # type: ignore[method-assign]


def read(log: Path) -> set[Access]:
    return {tuple(json.loads(line)) for line in log.read_text().splitlines()}  # type: ignore[misc]


if __name__ == "__main__":
    install(Path(sys.argv[1]))
    from mesh.cli.main import main

    sys.exit(main(sys.argv[2:]))
