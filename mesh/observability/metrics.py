"""Every Prometheus metric the mesh exports: the one place their names are spelled.

Names start with `mesh_`; labels take bounded values only (agent types, registered
message types, lifecycle event kinds, route templates, topics and partitions; never
task ids or raw paths), so series counts stay small. Dashboards and alert rules under
`deploy/` use only these names (tests/observability checks it).

Who fills what (each service serves its own `/metrics`, see `mesh/observability/metrics_server.py`):

- workers (`mesh run`): messages consumed/produced, handler duration, task transitions,
  tasks in flight, heartbeats sent, model requests, tokens, cost and latency
  (`mesh_llm_*`);
- the supervisor (`mesh supervisor run`): heartbeats received, live workers, open
  circuits, its actions, and consumer lag / retry and dead-letter depth of every agent
  type it has seen (ADR 013: measured where it stays visible when no worker runs);
- the gateway (`mesh gateway`): HTTP requests and webhook deliveries, and the task
  transitions it writes (`submitted`);
- workers and the gateway, per tenant (`mesh_tenant_*`, ADR 046): tasks submitted and
  ended, model tokens and cost, under a bounded `tenant` label.

Hot paths use `LabelCache`: a label child is looked up in a dict, not built by
`.labels()` per message. The metrics a task's hop updates are counted in plain
numbers read at a scrape (mesh/observability/plain_metrics.py, ADR 061).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from mesh.observability.plain_metrics import PlainCounter, PlainHistogram

# Seconds: handlers run from a millisecond (no-op) to many minutes (LLM calls, waits).
_HANDLER_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 30, 60, 300, 1800)

# -- workers ---------------------------------------------------------------------------

MESSAGES_CONSUMED = PlainCounter(
    "mesh_messages_consumed",
    "Records a worker read from its inbox, retry and domain topics, by agent type and "
    "message type (`undecodable` when the envelope could not be read).",
    ["agent", "type"],
)
MESSAGES_PRODUCED = PlainCounter(
    "mesh_messages_produced",
    "Records a process published, by the publishing agent type (`client` and `gateway` "
    "for those) and message type.",
    ["agent", "type"],
)
HANDLER_SECONDS = PlainHistogram(
    "mesh_handler_seconds",
    "Time a task handler ran, by agent type and task message type (whatever its outcome).",
    ["agent", "type"],
    buckets=_HANDLER_BUCKETS,
)
TASK_TRANSITIONS = PlainCounter(
    "mesh_task_transitions",
    "Task lifecycle events written, by agent type and event kind (submitted, started, "
    "succeeded, failed, retry_scheduled, dead_lettered, cancelled, rerouted; from the "
    "supervisor: redispatched, worker_lost, parked, cancel_requested, expired, ...).",
    ["agent", "kind"],
)
TASKS_INFLIGHT = Gauge(
    "mesh_tasks_inflight",
    "Tasks a worker process holds (running, or accepted and waiting for a slot).",
    ["agent"],
)
TASKS_RUNNING = Gauge(
    "mesh_tasks_running",
    "Tasks a worker process is running now (at most its max_inflight).",
    ["agent"],
)
WORKER_WRITE_FAILURES = Counter(
    "mesh_worker_write_failures",
    "Writes a worker gave up on after MESH_WRITE_ATTEMPTS tries (it then stops, exit "
    "status 1, so its partitions move on), or that failed with an error no retry can "
    "fix (the task is dead-lettered), by agent type and what was written.",
    ["agent", "write"],
)
HEARTBEATS_SENT = Counter(
    "mesh_heartbeats_sent",
    "Heartbeats a worker process published, by agent type.",
    ["agent"],
)

# -- supervisor ------------------------------------------------------------------------

HEARTBEATS_RECEIVED = Counter(
    "mesh_heartbeats_received",
    "Heartbeats the supervisor read, by the agent type of the sending worker.",
    ["agent"],
)
LIVE_WORKERS = Gauge(
    "mesh_live_workers",
    "Worker processes whose heartbeats are on time, by agent type (0: an agent type "
    "that had workers and has none now).",
    ["agent"],
)
CIRCUIT_OPEN = Gauge(
    "mesh_circuit_open",
    "1 while an agent type's circuit is open or half-open (new tasks held back), else 0; "
    "reported by the supervisor instance that owns the agent type's health.",
    ["agent"],
)
SUPERVISOR_ACTIONS = Counter(
    "mesh_supervisor_actions",
    "Findings the supervisor acted on, by agent type and problem (stuck -> redispatch, "
    "worker_lost, orphaned, expired, parked, ...).",
    ["agent", "problem"],
)
CONSUMER_LAG = Gauge(
    "mesh_consumer_lag",
    "Records of a partition its consumer group has not committed yet: end offset minus "
    "the group's committed offset (minus the log start when nothing is committed).",
    ["group", "topic", "partition"],
)
RETRY_DEPTH = Gauge(
    "mesh_retry_depth",
    "Records waiting in an agent type's retry topics (its group's lag on them).",
    ["agent"],
)
DEAD_LETTER_DEPTH = Gauge(
    "mesh_dead_letter_depth",
    "Records held in an agent type's dead-letter topic (end minus start offsets; purge "
    "marks hide records from `mesh dlq` but do not remove them).",
    ["agent"],
)

# -- gateway ---------------------------------------------------------------------------

GATEWAY_REQUESTS = Counter(
    "mesh_gateway_requests",
    "HTTP requests the gateway answered, by method, route template and status code.",
    ["method", "route", "status"],
)
GATEWAY_REQUEST_SECONDS = Histogram(
    "mesh_gateway_request_seconds",
    "Time from a request's arrival to the end of its response, by method and route.",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
GATEWAY_WEBHOOK_ATTEMPTS = Counter(
    "mesh_gateway_webhook_attempts",
    "Completion webhook POSTs, by outcome (delivered, failed, dead_lettered).",
    ["outcome"],
)
GATEWAY_WEBHOOK_RECORD_FAILURES = Counter(
    "mesh_gateway_webhook_record_failures",
    "Webhook delivery records (an attempt's status) the gateway gave up writing after "
    "MESH_WRITE_ATTEMPTS tries, by the status it was to record; the delivery went on, "
    "but a replica taking it over may send the webhook again.",
    ["status"],
)
GATEWAY_WEBHOOK_SENDER_RESTARTS = Counter(
    "mesh_gateway_webhook_sender_restarts",
    "Times a gateway's webhook sender loop failed and was started again (it stops, and "
    "/readyz says why, after MESH_WRITE_ATTEMPTS failures in a row).",
)

# -- model calls (`ctx.chat`, mesh/models): workers ------------------------------------

# Seconds: a model answers in a fraction of a second (cached, short) to minutes (long).
_LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

LLM_REQUESTS = Counter(
    "mesh_llm_requests",
    "Requests to a model provider, by agent type, model and outcome (ok, unavailable, "
    "rate_limited, refused, error, cancelled); a fallback's and an output schema's "
    "re-ask count as requests of their own; answers replayed from the journal do not.",
    ["agent", "model", "outcome"],
)
LLM_TOKENS = Counter(
    "mesh_llm_tokens",
    "Tokens model requests used, by agent type, model and kind (input, output, cached: "
    "the part of input the provider had cached, also counted in input).",
    ["agent", "model", "kind"],
)
LLM_REQUEST_SECONDS = Histogram(
    "mesh_llm_request_seconds",
    "Time one model request took (whatever its outcome), by agent type and model.",
    ["agent", "model"],
    buckets=_LLM_BUCKETS,
)
LLM_COST = Counter(
    "mesh_llm_cost_usd",
    "What model requests cost in US dollars, priced by MESH_MODEL_PRICES as each is "
    "answered (a model not in the table costs 0), by agent type and model; answers "
    "replayed from the journal cost nothing.",
    ["agent", "model"],
)

# Mesh-wide rate limits (mesh/quota, ADR 024): time a call waited for capacity; this
# process's current grant and waiting calls per resource (model@endpoint); pauses.
LLM_RATE_LIMIT_WAIT = Histogram(
    "mesh_llm_rate_limit_wait_seconds",
    "Time a model request waited for the mesh-wide rate limit, by agent type and model "
    "(calls that gave up waiting included).",
    ["agent", "model"],
    buckets=(0.005, 0.05, 0.25, 1, 2.5, 5, 10, 30, 60),
)
QUOTA_GRANT = Gauge(
    "mesh_quota_grant_per_minute",
    "This process's current grant of a rate-limited resource, per minute, by dimension "
    "(requests, tokens); 0 when it holds no lease.",
    ["resource", "dimension"],
)
QUOTA_WAITING = Gauge(
    "mesh_quota_waiting", "Calls of this process waiting for a resource's capacity.", ["resource"]
)
QUOTA_PAUSES = Counter(
    "mesh_quota_pauses",
    "Provider 429s with a Retry-After that paused a resource for the whole mesh.",
    ["resource"],
)


# -- tenants (ADR 046): workers and the gateway ------------------------------------------
# `tenant` is bounded (mesh/observability/tenants.py): a tenant the settings name, else
# "other"; "" for tasks without one. Separate counters, so the per-agent series above
# keep their shape and their count.

TENANT_TASKS = PlainCounter(
    "mesh_tenant_tasks",
    "Tasks submitted and ended (every task of a tree carries its root's tenant), by "
    "tenant and kind (submitted, succeeded, failed, cancelled, dead_lettered).",
    ["tenant", "kind"],
)
TENANT_LLM_TOKENS = Counter(
    "mesh_tenant_llm_tokens",
    "Tokens model requests used, by tenant and kind (input, output, cached).",
    ["tenant", "kind"],
)
TENANT_LLM_COST = Counter(
    "mesh_tenant_llm_cost_usd",
    "What model requests cost in US dollars (priced as mesh_llm_cost_usd), by tenant.",
    ["tenant"],
)


class LabelCache(dict[Any, Any]):
    """Label children of one metric (`METRIC.labels(...)`), made on first use and kept.

    `LabelCache(METRIC, "triage")[kind]` is `METRIC.labels("triage", kind)`; a tuple key
    fills several labels, and a bytes key (a Kafka header) is decoded once. `.labels()`
    takes a lock and builds a key per call; a dict hit does not, which matters on a path
    taken per message.
    """

    def __init__(
        self, metric: Counter | Gauge | Histogram | PlainCounter | PlainHistogram, *fixed: str
    ) -> None:
        super().__init__()
        self._metric = metric
        self._fixed = fixed

    def __missing__(self, key: str | bytes | tuple[str, ...]) -> Any:
        values = key if isinstance(key, tuple) else (key,)
        labels = [v.decode(errors="replace") if isinstance(v, bytes) else v for v in values]
        child = self._metric.labels(*self._fixed, *labels)
        self[key] = child
        return child
