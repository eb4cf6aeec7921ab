"""Settings from `MESH_*` environment variables, validated at start-up.

Defaults suit a production Kafka cluster. The named `PROFILES` (mesh/profiles.py: "dev" for
`mesh dev`, "test" for the test fixtures) set small group and fetch timers for one machine
and the embedded broker; a profile fills only what no `MESH_*` variable sets.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError as PydanticSettingsError

from mesh.budget_limits import BudgetTable
from mesh.errors import SettingsError
from mesh.model_choices import ModelLimit, ModelOverride, ModelProviderName
from mesh.prices import ModelPrice, prices_named_by_model
from mesh.profiles import PROFILES, profile_environment, profile_settings

__all__ = ["PROFILES", "Settings", "load_settings", "profile_environment", "profile_settings"]


def default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    """All runtime knobs; each field is the env var `MESH_<FIELD>` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="MESH_", frozen=True, extra="ignore")

    bootstrap_servers: str = "localhost:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None

    namespace: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$")
    partitions: int = Field(default=6, ge=1, le=10_000)
    replication_factor: int = Field(default=1, ge=1, le=10)
    events_retention: float = Field(default=7 * 24 * 3600.0, gt=0)

    max_inflight: int = Field(default=1000, ge=1, le=1_000_000)
    fetch_max_records: int = Field(default=500, ge=1)
    # Accepted tasks waiting for one of the `max_inflight` slots; fetching pauses when
    # this many wait. Large, so steering and cancel messages behind them still arrive.
    max_backlog: int = Field(default=5000, ge=1)
    commit_interval: float = Field(default=0.2, gt=0)
    shutdown_grace: float = Field(default=10.0, ge=0)
    max_message_bytes: int = Field(default=1_000_000, ge=1024)
    max_progress_entries: int = Field(default=50, ge=0)
    # Fields a schema marks sensitive (`schemas.redaction.sensitive`) are masked in the
    # task state and event records (input and result), as in logs; false shows them
    # there (logs stay masked). The parent still gets its child's result unmasked.
    mask_sensitive: bool = True
    # Delay tiers of the retry topics, in seconds, ascending (ADR 007). JSON in the env:
    # MESH_RETRY_TIERS='[1, 5, 30, 300]'.
    retry_tiers: tuple[float, ...] = (1.0, 5.0, 30.0, 300.0)
    # A task's `started` record waits this long (seconds) and goes out with the task's
    # next record when that comes first: a short task then writes one state record, not
    # two, in one produce (mesh/runtime/lifecycle.py). `mesh task` shows `submitted` until then.
    start_record_delay: float = Field(default=0.2, ge=0)
    # The task journal (mesh/runtime/journal.py, ADR 009): finished-task records that absorb
    # re-delivered requests, durable step results and child outcomes. Off only to
    # measure what it costs (`make bench`).
    journal_enabled: bool = True
    # How long a finished task's journal record absorbs duplicates of its request (the
    # deduplication window), and how long step results are kept; seconds.
    journal_retention: float = Field(default=7 * 24 * 3600.0, gt=0)
    # Largest journaled step result, in bytes of JSON: journal references (an object
    # key, a row id), not whole documents or LLM transcripts.
    max_step_bytes: int = Field(default=64 * 1024, ge=64)
    # On a rebalance, how long a worker waits for steps and outcomes being written
    # before it gives up its partitions (must be well below the session timeout).
    rebalance_grace: float = Field(default=2.0, ge=0)
    # A worker's write that fails (the broker unreachable or refusing it: an outcome, a
    # dead letter, an adopted event) is tried `write_attempts` times in all,
    # `write_backoff` s apart and doubling; then the worker stops with exit status 1, so
    # an orchestrator restarts it and its uncommitted records run again. Never a silent
    # stall with commits held back. The gateway's webhook sender tries its delivery
    # records and restarts its loop by the same numbers (mesh/gateway/native/webhooks.py).
    write_attempts: int = Field(default=5, ge=1, le=100)
    write_backoff: float = Field(default=0.5, ge=0)

    # Worker liveness (agents/supervisor): a heartbeat every `liveness_interval` s; a
    # running task without progress for `task_lease` s is stuck (progress extends it).
    liveness_interval: float = Field(default=5.0, gt=0)
    # A worker that holds no task beats every `liveness_idle_interval` s instead (unset:
    # every `liveness_interval`); each beat says its interval, so the supervisor's bound
    # follows it, and the first task held brings the short interval back (ADR 048).
    liveness_idle_interval: float | None = Field(default=None, gt=0)
    task_lease: float = Field(default=300.0, gt=0)
    heartbeat_max_tasks: int = Field(default=1000, ge=0)
    # The supervisor (agents/supervisor): how often it checks leases and workers, and
    # per-agent policy overrides as JSON (mesh/supervision/policy.py).
    supervisor_check_interval: float = Field(default=1.0, gt=0)
    supervision_policies: dict[str, dict[str, Any]] = Field(default_factory=dict)

    # Modules whose import registers message contracts that a process running none of
    # their agents must know: the gateway and the CLI check domain events and find
    # schema snapshots by them (mesh/_contracts.py). JSON in the env:
    # MESH_CONTRACTS='["myapp.contracts"]'. Default: none, so a library user's process
    # knows only the mesh's own messages; the dev and test profiles name the reference
    # application's (`agents.contracts`), as `mesh dev` runs the reference agents.
    contracts: tuple[str, ...] = ()

    # The gateway (`mesh gateway`, mesh/gateway): where it listens, and the largest
    # request body it accepts (larger ones get 413 before they are parsed).
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=0, le=65535)
    gateway_max_request_bytes: int = Field(default=1_000_000, ge=1024)
    # How deeply a JSON request body may nest (objects and arrays); a deeper one gets
    # 422 before it is validated. At most 200: the envelope around a payload adds
    # levels, and its encoder (orjson) stops at 255.
    gateway_max_json_depth: int = Field(default=64, ge=2, le=200)
    # Completion webhooks (ADR 011) and LangGraph run webhooks, delivered alike
    # (mesh/gateway/_webhook_delivery.py): the shared secret that signs each body
    # (`X-Mesh-Signature: sha256=<hex HMAC-SHA256>`; no webhooks accepted while empty),
    # attempts before a delivery is dead-lettered, the first retry delay (doubling per
    # attempt) and the timeout of one POST, in seconds.
    gateway_webhook_secret: SecretStr = SecretStr("")
    gateway_webhook_max_attempts: int = Field(default=5, ge=1, le=100)
    gateway_webhook_backoff: float = Field(default=1.0, ge=0)
    gateway_webhook_timeout: float = Field(default=10.0, gt=0)
    # Seconds an ended task (succeeded, failed, cancelled, dead-lettered) stays in the
    # gateway's view after it ended; then it leaves memory (ADR 031): a read of it gets
    # 410 Gone while the gateway remembers evicting it, 404 after. Tasks that have not
    # ended never leave. At least 1 s, at most 30 days.
    gateway_task_retention: float = Field(default=3600.0, ge=1.0, le=30 * 86400.0)
    # A2A (ADR 041): the seconds a blocking `SendMessage` (and `CancelTask`) waits for
    # the task to end or ask for input before it answers with the task as it is then.
    gateway_a2a_wait: float = Field(default=60.0, gt=0, le=3600.0)
    # Who may call the gateway (ADR 043, mesh/gateway/auth): "off" (`mesh dev`'s default;
    # its banner says so) or "on": API keys (JSON list of name, key_sha256, tenant, scopes)
    # and/or JWTs signed by a key of the JSON Web Key Set file `gateway_jwks`.
    gateway_auth: Literal["off", "on"] = "off"
    gateway_api_keys: SecretStr = SecretStr("")
    gateway_jwks: str | None = None
    gateway_jwt_issuer: str | None = None  # when set, a token must name this `iss`
    gateway_jwt_audience: str | None = None  # when set, a token must name this `aud`
    # The console's sign-in (ADR 047): seconds a session cookie lasts (never past the
    # JWT it was made from), and the secret that signs it (at least 32 characters; the
    # same on every replica). Unset: a secret made at start-up, good at that process only.
    gateway_session_ttl: float = Field(default=8 * 3600.0, ge=60.0, le=7 * 86400.0)
    gateway_session_secret: SecretStr = SecretStr("")

    # Model calls (`ctx.chat`, mesh/models, ADR 020): the OpenAI-compatible endpoint
    # (base URL) and model an agent uses where its `ModelSpec` names none; the key
    # (empty: none sent, as a local server needs); the seconds one request may take;
    # per-agent overrides as JSON, which win over the code: MESH_MODELS='{"triage":
    # {"name": "gpt-4o-mini", "fallbacks": ["gpt-4o"]}}'; and the longest Retry-After
    # (seconds) of a 429 that is waited out (by retrying the task) rather than
    # answered by the next fallback model.
    model_endpoint: str | None = None
    model_name: str | None = None
    model_api_key: SecretStr = SecretStr("")
    model_timeout: float = Field(default=60.0, gt=0)
    models: dict[str, ModelOverride] = Field(default_factory=dict)
    model_fallback_wait: float = Field(default=5.0, ge=0)
    # The protocol of MESH_MODEL_ENDPOINT where a ModelSpec / MESH_MODELS entry names
    # none: "openai" (OpenAI-compatible) or "anthropic" (the Messages API).
    model_provider: ModelProviderName = "openai"
    # Prices by model name, USD per million tokens, for each call's cost (ADR 021):
    # MESH_MODEL_PRICES='{"gpt-4o-mini": {"input": 0.15, "output": 0.6, "cached": 0.075}}'
    # (a model not listed costs 0); and the most model calls one task may make, its
    # earlier runs' included (the next raises ModelCallLimitExceeded).
    model_prices: dict[str, ModelPrice] = Field(default_factory=dict)
    model_max_calls_per_task: int = Field(default=100, ge=1)
    # While one model call runs, a `model_waiting` event every this many seconds keeps
    # the supervisor from taking the task for stuck (keep it below the agent's lease).
    model_keepalive: float = Field(default=60.0, gt=0)
    # Streamed tokens (ADR 022): how long the tokens topic keeps them (s), and when a
    # record of buffered deltas goes out: after this many seconds, or characters.
    tokens_retention: float = Field(default=3600.0, gt=0)
    tokens_flush_interval: float = Field(default=0.05, gt=0)
    tokens_flush_chars: int = Field(default=256, ge=1)
    # Mesh-wide rate limits (mesh/quota, ADR 024), per model name and endpoint (one
    # provider account): MESH_MODEL_LIMITS='{"gpt-4o-mini": {"rpm": 500, "tpm": 200000}}'.
    # Each process reports its demand every `model_limits_refresh` s and holds a lease
    # of `model_limits_lease` s (at least two refreshes).
    model_limits: dict[str, ModelLimit] = Field(default_factory=dict)
    model_limits_refresh: float = Field(default=1.0, gt=0)
    model_limits_lease: float = Field(default=5.0, gt=0)
    budgets: BudgetTable = Field(default_factory=dict)  # MESH_BUDGETS, ADR 025

    session_timeout: float = Field(default=10.0, gt=0)
    # Longest gap between two fetches before the group drops a member. The worker
    # fetches on while its tasks run (however slow a handler), so only a blocked event
    # loop gets near it.
    max_poll_interval: float = Field(default=300.0, gt=0)
    heartbeat_interval: float = Field(default=3.0, gt=0)
    fetch_max_wait: float = Field(default=0.5, ge=0)
    # A consumer that has seen no record for `fetch_idle_after` s fetches with this
    # longer wait until records arrive again (mesh/transport/kafka/pace.py, ADR 036).
    # Unset: `fetch_max_wait` throughout, right for Kafka, which answers a fetch as soon
    # as a record arrives; the dev profile sets it for the embedded broker, which does not.
    fetch_idle_wait: float | None = Field(default=None, ge=0)
    fetch_idle_after: float = Field(default=1.0, gt=0)
    # And once it has seen none for `fetch_long_idle_after` s, this still longer wait
    # (unset: no second step). The dev profile waits 3 s after 10 s: a mesh left alone
    # idles, and one used every few seconds answers as fast as with one step (ADR 056).
    fetch_long_idle_wait: float | None = Field(default=None, ge=0)
    fetch_long_idle_after: float = Field(default=10.0, gt=0)
    request_timeout: float = Field(default=30.0, gt=0)
    linger: float = Field(default=0.0, ge=0)
    # Larger than Kafka's 16 KiB default: with thousands of concurrent tasks publishing,
    # small batches fill at once and every publisher waits for a drain (measured in
    # `make bench`: the hop rate is several times higher with 512 KiB).
    producer_batch_bytes: int = Field(default=512 * 1024, ge=16 * 1024)
    # Records a process may have waiting for the broker (unreachable, hung) before a
    # publish fails at once with a clear error, rather than memory growing.
    producer_max_pending: int = Field(default=200_000, ge=1)
    acks: Literal["all", "1", "0"] = "all"
    # Kafka's idempotent producer: no duplicates from the producer's own retries. On for
    # Apache Kafka; the embedded broker cannot grant producer ids, so the dev and test
    # profiles turn it off. The guarantees do not depend on it (ADR 009).
    idempotent_producer: bool = True

    # Prometheus `/metrics` of `mesh run` and `mesh supervisor run`
    # (mesh/observability/metrics_server.py; the gateway serves it on MESH_GATEWAY_PORT):
    # -1 none, 0 a free port (logged; several workers on one host), else that port. The
    # supervisor measures consumer lag and retry and dead-letter depth every
    # `metrics_lag_interval` seconds (ADR 013).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=-1, le=65535)
    metrics_lag_interval: float = Field(default=10.0, gt=0)
    # Tenants with a `tenant` label of their own on the per-tenant metrics (ADR 046),
    # besides those of MESH_GATEWAY_API_KEYS and MESH_BUDGETS; any other is "other", so
    # a token naming a new tenant never makes a new series. MESH_METRICS_TENANTS='["a"]'.
    metrics_tenants: list[str] = Field(default_factory=list, max_length=500)

    # Kubernetes (deploy/k8s, ADR 038): keep this pod's pod-deletion-cost annotation at
    # the worker's in-flight task count (checked every `pod_deletion_cost_interval` s,
    # patched when it changed), so a scale-in removes idle pods first. MESH_POD_NAME and
    # MESH_POD_NAMESPACE name the pod (the manifests set them from the downward API).
    pod_deletion_cost: bool = False
    pod_deletion_cost_interval: float = Field(default=10.0, gt=0)
    pod_name: str = ""
    pod_namespace: str = ""

    # gen0 threshold of CPython's collector in `mesh run` and `mesh supervisor run`
    # (see mesh/runtime/gc_tuning.py).
    gc_gen0_threshold: int = Field(default=50_000, ge=100)

    # Traces (mesh/observability/tracing.py): where spans go. `none` by default and in tests; `file`
    # writes JSON lines to `trace_file`; `otlp-http`/`otlp-grpc` send to `otlp_endpoint`
    # (None: the exporter's default, or OTEL_EXPORTER_OTLP_ENDPOINT).
    trace_exporter: Literal["none", "console", "file", "otlp-http", "otlp-grpc"] = "none"
    trace_file: str | None = None
    otlp_endpoint: str | None = None
    # The share of new traces recorded (a task tree is kept or dropped whole: a hop
    # follows its sender's decision). 1.0 records every task; lower it under load.
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)

    instance_id: str = Field(default_factory=default_instance_id)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "text"

    @field_validator("retry_tiers")
    @classmethod
    def _tiers_ascending(cls, tiers: tuple[float, ...]) -> tuple[float, ...]:
        if not tiers or any(t <= 0 for t in tiers) or list(tiers) != sorted(set(tiers)):
            raise ValueError(f"must be distinct positive seconds in ascending order, got {tiers}")
        return tiers

    _prices = field_validator("model_prices", mode="wrap")(prices_named_by_model)

    @field_validator("metrics_tenants")
    @classmethod
    def _tenant_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name or name == "other":
                raise ValueError(f"{name!r} cannot be a tenant's label; name real tenants")
        return names

    @property
    def labelled_tenants(self) -> frozenset[str]:
        """The tenants the per-tenant metrics label by name (mesh/observability/tenants.py)."""
        from_budgets = {key[len("tenant:") :] for key in self.budgets if key.startswith("tenant:")}
        return frozenset([*self.metrics_tenants, *from_budgets, *_key_tenants(self)])

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> Settings:
        if self.heartbeat_interval * 3 > self.session_timeout:
            raise ValueError(
                f"heartbeat_interval ({self.heartbeat_interval}) must be at most a third of "
                f"session_timeout ({self.session_timeout}); lower MESH_HEARTBEAT_INTERVAL"
            )
        if self.fetch_idle_wait is not None and self.fetch_idle_wait < self.fetch_max_wait:
            raise ValueError(
                f"fetch_idle_wait ({self.fetch_idle_wait}) must be at least fetch_max_wait "
                f"({self.fetch_max_wait}); raise MESH_FETCH_IDLE_WAIT or leave it unset"
            )
        if self.fetch_long_idle_wait is not None and self.fetch_long_idle_wait < max(
            self.fetch_idle_wait or 0.0, self.fetch_max_wait
        ):
            raise ValueError(
                f"fetch_long_idle_wait ({self.fetch_long_idle_wait}) must be at least "
                "fetch_idle_wait and fetch_max_wait; raise MESH_FETCH_LONG_IDLE_WAIT or "
                "leave it unset"
            )
        if self.liveness_idle_interval is not None and (
            self.liveness_idle_interval < self.liveness_interval
        ):
            raise ValueError(
                f"liveness_idle_interval ({self.liveness_idle_interval}) must be at least "
                f"liveness_interval ({self.liveness_interval}); raise "
                "MESH_LIVENESS_IDLE_INTERVAL or leave it unset"
            )
        if self.gateway_auth == "on" and not (
            self.gateway_api_keys.get_secret_value().strip() or self.gateway_jwks
        ):
            raise ValueError(
                "MESH_GATEWAY_AUTH=on needs MESH_GATEWAY_API_KEYS or MESH_GATEWAY_JWKS"
            )
        if self.trace_exporter == "file" and not self.trace_file:
            raise ValueError("MESH_TRACE_EXPORTER=file needs MESH_TRACE_FILE (a path)")
        if self.security_protocol.startswith("SASL_") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password is not None
        ):
            raise ValueError(
                f"MESH_SECURITY_PROTOCOL={self.security_protocol} needs MESH_SASL_MECHANISM, "
                "MESH_SASL_USERNAME and MESH_SASL_PASSWORD"
            )
        if self.model_limits_lease < 2 * self.model_limits_refresh:
            raise ValueError(
                f"model_limits_lease ({self.model_limits_lease}) must be at least twice "
                f"model_limits_refresh ({self.model_limits_refresh}); raise MESH_MODEL_LIMITS_LEASE"
            )
        if self.rebalance_grace > self.session_timeout / 2:
            raise ValueError(
                f"rebalance_grace ({self.rebalance_grace}) must be at most half of "
                f"session_timeout ({self.session_timeout}); lower MESH_REBALANCE_GRACE"
            )
        return self


def load_settings(*, profile: str | None = None, **overrides: object) -> Settings:
    """Read settings from the environment (plus `overrides`).

    Args:
        profile: A name in `PROFILES`, whose values fill the fields that no `MESH_*`
            variable sets (`overrides` win over both).
        overrides: Field values that win over the environment.

    Raises:
        SettingsError: with one line per bad variable, naming it and the fix; or an
            unknown profile.
    """
    if profile is not None:
        overrides = {**profile_settings(profile), **overrides}
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except PydanticSettingsError as exc:  # a JSON-valued variable that is not JSON
        raise SettingsError(
            f"invalid settings: {exc}; MESH_RETRY_TIERS and MESH_SUPERVISION_POLICIES "
            "take JSON, e.g. '[1, 5, 30]' and '{\"default\": {\"lease\": 120}}'"
        ) from None
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            name = f"MESH_{field.upper()}" if field else "MESH_* settings"
            got = f" (got {error['input']!r})" if field else ""
            lines.append(f"{name}: {error['msg']}{got}")
        raise SettingsError("invalid settings: " + "; ".join(lines)) from None


def _key_tenants(settings: Settings) -> list[str]:
    """The tenants MESH_GATEWAY_API_KEYS names (read leniently here: the gateway checks
    the setting at its start, and a worker given the gateway's settings just labels)."""
    try:
        entries = json.loads(settings.gateway_api_keys.get_secret_value() or "[]")
    except json.JSONDecodeError:
        return []
    if not isinstance(entries, list):
        return []
    return [
        e["tenant"] for e in entries if isinstance(e, dict) and isinstance(e.get("tenant"), str)
    ]
