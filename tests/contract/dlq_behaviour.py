"""What operating the dead-letter queue (`mesh.dlq.operate`) must do on every transport.

Subclasses provide `transport_factory` (a fresh, unstarted transport per call) and
`settings` (a fresh namespace per test), as for `RuntimeBehaviour`. Each test parks
one rejected task and one undecodable record, then lists, replays or purges them.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from pydantic import BaseModel

from mesh import Agent, Reject, TaskContext
from mesh.dlq import operate as dlq
from mesh.dlq.operate import DeadLetter
from mesh.errors import DeadLetterError
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas import REGISTRY, decode_envelope
from schemas.tasks import TaskStatus
from tests.contract.config import Factory
from tests.helpers import eventually, eventually_value, read_all


@REGISTRY.register("test.fixable", 1)
class Fixable(BaseModel):
    label: str = ""
    fixed_at_replay: int = 1


# Rejects runs before `fixed_at_replay`: "the bug" is fixed by the time an operator
# replays the task (or replays it again).
fixable = Agent("fixable")


@fixable.task
async def run_fixable(ctx: TaskContext, request: Fixable) -> dict[str, object]:
    if ctx.request.replay < request.fixed_at_replay:
        raise Reject(f"not fixed yet ({request.label})")
    return {"label": request.label, "replay": ctx.request.replay}


POISON = b"\xff not an envelope"


async def park_rejected_and_poison(m: TestMesh) -> tuple[DeadLetter, DeadLetter]:
    """A rejected task and an undecodable record in `fixable`'s queue, as listed."""
    task_id = await m.client.submit("fixable", {"label": "a"})
    state = await m.client.wait(task_id, timeout=20)
    assert state.status is TaskStatus.DEAD_LETTERED
    inbox = m.client.publisher.topics.inbox("fixable")
    await m.transport.publish(inbox, POISON, key=b"poison")
    letters = await listed_when(m, lambda found: len(found) == 2)
    (rejected,) = [letter for letter in letters if letter.task_id == task_id]
    (poison,) = [letter for letter in letters if letter.key == b"poison"]
    return rejected, poison


async def listed_when(
    m: TestMesh, condition: Callable[[list[DeadLetter]], bool], *, timeout: float = 10.0
) -> list[DeadLetter]:
    """The listed dead letters once `condition` holds (the worker parks records async)."""
    return await eventually_value(
        lambda: dlq.read_dead_letters(m.transport, m.settings, "fixable"),
        condition,
        timeout=timeout,
        what="the dead letters to match",
    )


class DeadLetterQueueBehaviour:
    async def test_dead_letters_are_listed_with_provenance_and_chosen_by_filters_and_ids(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(fixable, transport=transport_factory(), settings=settings) as m:
            rejected, poison = await park_rejected_and_poison(m)
            inbox = m.client.publisher.topics.inbox("fixable")
        assert rejected.reason == "Reject is permanent: not fixed yet (a)"
        assert (rejected.error_type, rejected.error_message) == ("Reject", "not fixed yet (a)")
        assert rejected.type == "test.fixable" and rejected.attempts == 1
        assert rejected.envelope is not None and rejected.envelope.payload["label"] == "a"
        assert rejected.original_topic == inbox and rejected.original_offset is not None
        assert rejected.first_failure is not None and rejected.last_failure is not None
        assert rejected.traceback_digest and "in run_fixable" in rejected.traceback_digest
        assert rejected.instance == settings.instance_id
        assert "undecodable" in poison.reason and poison.original_topic == inbox
        assert (poison.envelope, poison.task_id, poison.value) == (None, None, POISON)
        orjson.dumps([rejected.summary(), poison.summary()])  # --json can print them

        both = [rejected, poison]
        assert dlq.matching(both, reason="UNDECODABLE") == [poison]
        assert dlq.matching(both, task_id=rejected.task_id) == [rejected]
        assert dlq.matching(both, error_type="Reject", reason="fixed") == [rejected]
        assert dlq.by_ids(both, [poison.id, rejected.id]) == [poison, rejected]
        with pytest.raises(DeadLetterError, match="no dead letter 9:999"):
            dlq.by_ids(both, ["9:999"])
        with pytest.raises(DeadLetterError, match="must look like"):
            dlq.by_ids(both, ["latest"])

    async def test_a_fixed_task_is_replayed_to_success_and_poison_is_skipped(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(fixable, transport=transport_factory(), settings=settings) as m:
            rejected, poison = await park_rejected_and_poison(m)
            task_id, view = rejected.task_id, m.client.view
            assert task_id is not None
            card = view.agents["fixable"]
            listed = [rejected, poison]
            outcomes = await dlq.replay(
                m.client.publisher, card, listed, listed=listed, task_states=view.tasks
            )
            by_id = {outcome.letter.id: outcome for outcome in outcomes}
            sent, skipped = by_id[rejected.id], by_id[poison.id]
            await eventually(
                lambda: view.tasks[task_id].status is TaskStatus.SUCCEEDED,
                timeout=20,
                what="the replayed task to succeed",
            )
            again = await dlq.replay(
                m.client.publisher, card, [rejected], listed=listed, task_states=view.tasks
            )
            events = await read_all(m.transport, [m.client.publisher.topics.task_events])
            still_listed = await dlq.read_dead_letters(m.transport, settings, "fixable")
        assert sent.request is not None and sent.skipped is None
        assert (sent.request.task_id, sent.request.attempt, sent.request.replay) == (task_id, 1, 1)
        assert skipped.request is None and "not an envelope" in (skipped.skipped or "")
        assert view.tasks[task_id].result == {"label": "a", "replay": 1}
        kinds = [
            decode_envelope(r.value or b"").payload["kind"]
            for r in events
            if r.key == task_id.encode()
        ]
        assert kinds == [
            "submitted",
            "started",
            "dead_lettered",
            "replayed",
            "started",
            "succeeded",
        ]
        assert "not dead_lettered" in (again[0].skipped or "")  # one run per decision
        assert len(still_listed) == 2  # replay hides nothing; purging is a separate step

    async def test_replaying_an_older_dead_letter_counts_past_every_earlier_replay(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        """Replayed once, dead-lettered again, then replayed from its first dead letter:
        the new run must count past both, or deduplication takes it for an ended run."""
        async with TestMesh(fixable, transport=transport_factory(), settings=settings) as m:
            publisher, view = m.client.publisher, m.client.view
            task_id = await m.client.submit("fixable", {"label": "b", "fixed_at_replay": 2})
            first = await listed_when(m, lambda found: len(found) == 1)
            card = view.agents["fixable"]
            await view.catch_up()
            await dlq.replay(publisher, card, first, listed=first, task_states=view.tasks)
            both = await listed_when(m, lambda found: len(found) == 2)  # failed again
            await view.catch_up()
            (outcome,) = await dlq.replay(
                publisher, card, [both[0]], listed=both, task_states=view.tasks
            )
            await eventually(
                lambda: view.tasks[task_id].status is TaskStatus.SUCCEEDED,
                timeout=20,
                what="the second replay to succeed",
            )
        assert [letter.envelope.replay for letter in both if letter.envelope] == [0, 1]
        assert outcome.request is not None and outcome.request.replay == 2
        assert view.tasks[task_id].result == {"label": "b", "replay": 2}

    async def test_purged_dead_letters_are_hidden(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        one_partition = settings.model_copy(update={"partitions": 1})  # ids 0:0 and 0:1
        mesh = TestMesh(fixable, transport=transport_factory(), settings=one_partition)
        async with mesh as m:
            rejected, poison = await park_rejected_and_poison(m)
            publisher, listed = m.client.publisher, [rejected, poison]
            with pytest.raises(DeadLetterError, match=f"would also hide {rejected.id}"):
                await dlq.purge(publisher, "fixable", [poison], listed=listed)
            await dlq.purge(publisher, "fixable", [rejected], listed=listed)
            after_one = await dlq.read_dead_letters(m.transport, one_partition, "fixable")
            await dlq.purge(publisher, "fixable", after_one, listed=after_one)
            after_all = await dlq.read_dead_letters(m.transport, one_partition, "fixable")
            later = await m.client.submit("fixable", {"label": "later"})
            (new,) = await listed_when(m, lambda found: len(found) == 1)
        assert [letter.id for letter in after_one] == [poison.id]
        assert after_all == []
        assert new.task_id == later  # a mark hides what it covered, not what comes after
