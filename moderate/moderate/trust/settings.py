"""Tuning of the trust sensors and jobs: page sizes, per-tick caps and backoff.

Sensors cannot take run config, so their limits live in :class:`TrustSettings`, a
frozen dataclass whose defaults are the named constants below. The code location
builds its sensors from :data:`DEFAULT_TRUST_SETTINGS`; the sensors copy the op-side
values (polling bounds, backoff) into the run config of every run they request, so
one object decides the behaviour of the whole flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

USER_DID_NAMESPACE = "trust.user_did"
OBJECT_PROOF_NAMESPACE = "trust.object_proof"
FEATURE_TAGS = {"moderate/feature": "trust"}
BATCH_TAG = "moderate/trust-batch"
ITEMS_TAG = "moderate/trust-items"

SENSOR_INTERVAL_S = 300
KEYCLOAK_MAX_PAGE_SIZE = 100
DEFAULT_USER_PAGE_SIZE = 100
DEFAULT_MAX_USER_PAGES_PER_TICK = 100
DEFAULT_OBJECT_PAGE_SIZE = 100
DEFAULT_MAX_OBJECT_PAGES_PER_TICK = 100
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000
# Helm's QueuedRunCoordinator runs 4 at once (values-dagster.yaml.template): the
# two trust flows together keep at most that many runs queued or running.
DEFAULT_MAX_RUNS_IN_FLIGHT = 2
DEFAULT_MAX_RUNS_PER_TICK = DEFAULT_MAX_RUNS_IN_FLIGHT
DEFAULT_TICK_BUDGET_S = 40.0
DEFAULT_FULL_RECONCILIATION_INTERVAL = timedelta(hours=24)
DEFAULT_PENDING_TIMEOUT = timedelta(hours=1)
DEFAULT_RETRY_BASE = timedelta(minutes=5)
DEFAULT_RETRY_CAP = timedelta(hours=6)
DEFAULT_BLOCKED_OWNER_RETRY_BASE = timedelta(hours=1)
DEFAULT_BLOCKED_OWNER_RETRY_CAP = timedelta(hours=24)
DEFAULT_POLL_INITIAL_INTERVAL_S = 1.0
DEFAULT_POLL_MAX_INTERVAL_S = 15.0
DEFAULT_POLL_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class TrustSettings:
    """Limits and timings of the DID and proof flows.

    Attributes:
        user_page_size: Keycloak users per request (at most 100).
        max_user_pages_per_tick: Keycloak pages one tick may read.
        object_page_size: Platform API objects per request (at most 100).
        max_object_pages_per_tick: Object pages one tick may read.
        batch_size: Items (users or objects) one run works on.
        max_runs_per_tick: Batch runs one tick of one sensor may request.
        max_runs_in_flight: Runs of one flow that may be queued or running at
            once; a tick requests only what fits, so the run queue (and the run
            coordinator's concurrency) is never flooded.
        tick_budget_s: Wall time after which a tick stops reading pages (the
            sensor timeout is 60 s); the cursor resumes there on the next tick.
        full_reconciliation_interval: Age after which a full pass over the realm
            starts even though the user count did not change.
        pending_timeout: How long a requested run may take to record an outcome
            before the item counts as lost and is requested again (new attempt).
        retry_base: Delay after the first transient failure; doubles per attempt.
        retry_cap: Longest delay after transient failures.
        blocked_owner_retry_base: Delay after "owner has no DID"; doubles.
        blocked_owner_retry_cap: Longest such delay.
        poll_initial_interval_s: First wait between two task polls.
        poll_max_interval_s: Longest wait between two task polls.
        poll_timeout_s: How long an op waits for a Trust task before giving up
            with a retryable failure (the API loses tasks when it restarts).
    """

    user_page_size: int = DEFAULT_USER_PAGE_SIZE
    max_user_pages_per_tick: int = DEFAULT_MAX_USER_PAGES_PER_TICK
    object_page_size: int = DEFAULT_OBJECT_PAGE_SIZE
    max_object_pages_per_tick: int = DEFAULT_MAX_OBJECT_PAGES_PER_TICK
    batch_size: int = DEFAULT_BATCH_SIZE
    max_runs_per_tick: int = DEFAULT_MAX_RUNS_PER_TICK
    max_runs_in_flight: int = DEFAULT_MAX_RUNS_IN_FLIGHT
    tick_budget_s: float = DEFAULT_TICK_BUDGET_S
    full_reconciliation_interval: timedelta = DEFAULT_FULL_RECONCILIATION_INTERVAL
    pending_timeout: timedelta = DEFAULT_PENDING_TIMEOUT
    retry_base: timedelta = DEFAULT_RETRY_BASE
    retry_cap: timedelta = DEFAULT_RETRY_CAP
    blocked_owner_retry_base: timedelta = DEFAULT_BLOCKED_OWNER_RETRY_BASE
    blocked_owner_retry_cap: timedelta = DEFAULT_BLOCKED_OWNER_RETRY_CAP
    poll_initial_interval_s: float = DEFAULT_POLL_INITIAL_INTERVAL_S
    poll_max_interval_s: float = DEFAULT_POLL_MAX_INTERVAL_S
    poll_timeout_s: float = DEFAULT_POLL_TIMEOUT_S

    def __post_init__(self) -> None:
        """Rejects page sizes the services refuse and caps that stop all work."""
        for name in ("user_page_size", "object_page_size"):
            if not 0 < getattr(self, name) <= KEYCLOAK_MAX_PAGE_SIZE:
                raise ValueError(f"{name} must be within 1..{KEYCLOAK_MAX_PAGE_SIZE}")
        for name in (
            "max_user_pages_per_tick",
            "max_object_pages_per_tick",
            "max_runs_per_tick",
            "max_runs_in_flight",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0 < self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be within 1..{MAX_BATCH_SIZE}")

    @property
    def items_per_tick(self) -> int:
        """Most items one tick may request (runs times batch size)."""
        return self.max_runs_per_tick * self.batch_size

    def op_config(self) -> dict[str, float]:
        """The run-config fields shared by both trust ops."""
        return {
            "poll_initial_interval_s": self.poll_initial_interval_s,
            "poll_max_interval_s": self.poll_max_interval_s,
            "poll_timeout_s": self.poll_timeout_s,
            "pending_timeout_s": self.pending_timeout.total_seconds(),
            "retry_base_s": self.retry_base.total_seconds(),
            "retry_cap_s": self.retry_cap.total_seconds(),
            "blocked_owner_retry_base_s": self.blocked_owner_retry_base.total_seconds(),
            "blocked_owner_retry_cap_s": self.blocked_owner_retry_cap.total_seconds(),
        }


DEFAULT_TRUST_SETTINGS = TrustSettings()
