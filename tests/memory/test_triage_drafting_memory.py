"""The support desk's triage drafting replies with a model, in memory, against the
scripted model double (tests/model_double.py): a grounded draft is sent, an ungrounded
one is asked for again with the reason and then replaced by the template, no model
means the template, and the ticket's root task carries triage's tokens and cost.

Structure only: what the double says is scripted, so these tests check which draft is
sent and why, never what a real model would write.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from agents.contracts import Customer, ReplyDrafted, TicketCreated
from agents.knowledge import agent as knowledge
from agents.orders import agent as orders
from agents.triage import agent as triage
from agents.triage import model_drafting
from agents.triage.drafting import SIGN_OFF
from mesh.models.accounting import tree_usage, usage_total
from mesh.prices import ModelPrice
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas.tasks import ModelUsage, TaskState, TaskStatus
from tests.helpers import eventually, eventually_true
from tests.model_double import ModelDouble, Reply

GROUNDED = "Hello Ada, your order ORD-1001 shipped on 2024-11-20 with UPS. It is on its way."
INVENTED = "Hello Ada, your order ORD-9999 was delivered yesterday to your neighbour."
PRICES = {"small": ModelPrice(input=1.0, output=2.0)}  # USD per million tokens


@pytest.fixture
def double() -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        yield double


@pytest.fixture
def with_model(memory_settings: Settings, double: ModelDouble) -> Settings:
    update = {"model_endpoint": double.url, "model_name": "small", "model_prices": PRICES}
    return memory_settings.model_copy(update=update)


@pytest.fixture
async def desk(with_model: Settings) -> AsyncIterator[TestMesh]:
    async with TestMesh(triage, knowledge, orders, settings=with_model) as mesh:
        yield mesh


async def handle(mesh: TestMesh, subject: str = "Where is my order ORD-1001?") -> TaskState:
    """Publish a ticket as the help desk would; the state of the triage task it started."""
    event = TicketCreated(
        ticket_id=f"T-{uuid.uuid4().hex[:8]}",
        customer=Customer(email="ada@example.com"),
        subject=subject,
        body="It has not arrived.",
    )
    event_id = await mesh.client.publish(event, key=event.ticket_id)
    roots: list[TaskState] = []

    async def started() -> bool:
        roots[:] = await mesh.client.list(correlation=event_id, agent="triage")
        return bool(roots)

    await eventually_true(started, timeout=20, interval=0.05, what="the ticket's triage task")
    state = await mesh.client.wait(roots[0].task_id, timeout=30)
    assert state.status is TaskStatus.SUCCEEDED, state.error
    return state


def reply(state: TaskState) -> ReplyDrafted:
    return ReplyDrafted.model_validate(state.result)


async def test_a_grounded_draft_is_sent_with_what_it_cites(
    desk: TestMesh, double: ModelDouble
) -> None:
    double.script(Reply(content=GROUNDED))
    sent = reply(await handle(desk))
    assert sent.reply == f"{GROUNDED}\n\n{SIGN_OFF}"
    assert sent.order_ids == ["ORD-1001"] and sent.article_ids == []
    assert sent.drafting is not None and sent.drafting.by == "model"
    assert sent.drafting.model == "small" and sent.drafting.rejected == []
    assert double.calls() == 1
    prompt = double.requests[0]["messages"][1]["content"]
    assert "- Order ORD-1001 (" in prompt and "ORD-1002" not in prompt  # only what was found


async def test_an_ungrounded_draft_is_asked_again_with_the_reason(
    desk: TestMesh, double: ModelDouble
) -> None:
    double.script(Reply(content=INVENTED), Reply(content=GROUNDED))
    sent = reply(await handle(desk))
    assert sent.drafting is not None and sent.drafting.by == "model"
    assert sent.reply.startswith(GROUNDED) and sent.order_ids == ["ORD-1001"]
    reason = "it cites ORD-9999, which the order lookup did not return"
    assert len(sent.drafting.rejected) == 1 and sent.drafting.rejected[0].startswith(reason)
    again = double.requests[1]["messages"]
    assert [m["role"] for m in again] == ["system", "user", "assistant", "user"]
    assert again[2]["content"] == INVENTED and reason in again[3]["content"]


async def test_two_rejected_drafts_leave_the_template_reply(
    desk: TestMesh, double: ModelDouble
) -> None:
    double.script(Reply(content=INVENTED), Reply(content="[Your reply here]"))
    state = await handle(desk)
    sent = reply(state)
    assert sent.drafting is not None and sent.drafting.by == "template"
    assert sent.drafting.reason == "the model's 2 drafts failed the grounding check"
    assert len(sent.drafting.rejected) == 2 and "ORD-9999" not in sent.reply
    assert sent.reply.startswith("Hello Ada,") and sent.order_ids == ["ORD-1001"]
    rejections = [p for p in state.progress if p.message == "draft rejected"]
    assert len(rejections) == 2  # shown on the task while it runs


async def test_a_model_that_fails_leaves_the_template_reply(
    desk: TestMesh, double: ModelDouble
) -> None:
    double.script(Reply(status=500))
    sent = reply(await handle(desk))
    assert sent.drafting is not None and sent.drafting.by == "template"
    assert sent.drafting.reason.startswith("the model did not draft: ModelUnavailable")


async def test_with_no_model_the_template_drafts_at_no_cost(memory_settings: Settings) -> None:
    async with TestMesh(triage, knowledge, orders, settings=memory_settings) as mesh:
        state = await handle(mesh)
    sent = reply(state)
    assert sent.drafting is not None and sent.drafting.by == "template"
    assert sent.drafting.reason.startswith("no model is configured: agent 'triage' calls")
    assert state.usage == []


async def test_with_no_drafts_wanted_the_model_is_not_asked(
    desk: TestMesh, double: ModelDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_drafting, "MODEL_DRAFTS", 0)  # TRIAGE_MODEL_DRAFTS=0
    sent = reply(await handle(desk))
    assert sent.drafting is not None and sent.drafting.by == "template"
    assert sent.drafting.reason == "TRIAGE_MODEL_DRAFTS=0: the model is not asked"
    assert double.calls() == 0


async def test_the_tickets_root_task_shows_triages_tokens_and_cost(
    desk: TestMesh, double: ModelDouble
) -> None:
    double.script(
        Reply(content=INVENTED, input_tokens=400, output_tokens=50),
        Reply(content=GROUNDED, input_tokens=500, output_tokens=30),
    )
    root = await handle(desk)
    assert root.root_task_id == root.task_id  # the ticket's own task: nothing above it
    tasks = desk.client.view.tasks
    await eventually(lambda: len(root.children) == 2 and all(
        c in tasks and tasks[c].status.is_terminal for c in root.children
    ), timeout=10, what="the lookups' states")  # fmt: skip
    line = ModelUsage(
        agent="triage", model="small", calls=2, input_tokens=900, output_tokens=80,
        cost_usd=0.00106,  # 900 in at $1/M, 80 out at $2/M
    )  # fmt: skip
    assert root.usage == [line]
    assert tree_usage(tasks, root.task_id) == [line]  # `mesh task`, GET /v1/tasks/{id}
    assert usage_total(tree_usage(tasks, root.task_id)).cost_usd == pytest.approx(0.00106)
