"""Names and tuning of the trust flows: page sizes, per-tick caps and backoff.

Sensors cannot take run config, so their limits live in :class:`TrustSettings`. The
sensors copy the op-side values (polling bounds, backoff) into the run config of
every run they request, so one object decides the behaviour of the whole flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from pydantic import Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

USER_DID_NAMESPACE = "trust.user_did"
OBJECT_PROOF_NAMESPACE = "trust.object_proof"
FEATURE_TAGS = {"moderate/feature": "trust"}
BATCH_TAG = "moderate/trust-batch"
ITEMS_TAG = "moderate/trust-items"
SENSOR_INTERVAL_S = 300
MAX_PAGE_SIZE = 100
MAX_BATCH_SIZE = 1000
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)]
AtLeastOne = Annotated[int, Field(ge=1)]


@dataclass(frozen=True)
class Flow:
    """What tells the DID flow and the proof flow apart.

    Attributes:
        name: ``did`` or ``proof``: prefix of run keys and of count metadata.
        namespace: State-store namespace of the flow's items.
        op_name: The op whose run config lists a batch's items.
        job_name: The job of that op, one run per batch.
    """

    name: str
    namespace: str
    op_name: str
    job_name: str


USER_DIDS = Flow(
    "did",
    USER_DID_NAMESPACE,
    "create_user_dids",
    "propagate_new_user_to_trust_services_job",
)
OBJECT_PROOFS = Flow(
    "proof",
    OBJECT_PROOF_NAMESPACE,
    "create_object_proofs",
    "create_asset_object_proof_job",
)


@pydantic_dataclass(frozen=True)
class TrustSettings:
    """Limits and timings of the DID and proof flows (validated when made).

    Attributes:
        user_page_size: Keycloak users per request (at most 100).
        max_user_pages_per_tick: Keycloak pages one tick may read.
        object_page_size: Platform API objects per request (at most 100).
        max_object_pages_per_tick: Object pages one tick may read.
        batch_size: Items (users or objects) one run works on.
        max_runs_per_tick: Batch runs one tick of one sensor may request.
        max_runs_in_flight: Runs of one flow queued or running at once (Helm's
            coordinator runs 4, so both flows together stay within it).
        tick_budget_s: Wall time after which a tick stops reading pages (the
            sensor timeout is 60 s).
        full_reconciliation_interval: Age after which a pass over the realm
            starts even though the user count did not change.
        pending_timeout: How long a claim lasts before its item counts as lost.
        retry_base, retry_cap: Backoff after transient failures (doubling).
        blocked_owner_retry_base, blocked_owner_retry_cap: The same while a proof
            owner has no DID.
        poll_initial_interval_s, poll_max_interval_s, poll_timeout_s: Task polling
            (doubling waits, bounded in total: the API loses tasks on restarts).
    """

    user_page_size: PageSize = MAX_PAGE_SIZE
    max_user_pages_per_tick: AtLeastOne = 100
    object_page_size: PageSize = MAX_PAGE_SIZE
    max_object_pages_per_tick: AtLeastOne = 100
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)] = 100
    max_runs_per_tick: AtLeastOne = 2
    max_runs_in_flight: AtLeastOne = 2
    tick_budget_s: float = 40.0
    full_reconciliation_interval: timedelta = timedelta(hours=24)
    pending_timeout: timedelta = timedelta(hours=1)
    retry_base: timedelta = timedelta(minutes=5)
    retry_cap: timedelta = timedelta(hours=6)
    blocked_owner_retry_base: timedelta = timedelta(hours=1)
    blocked_owner_retry_cap: timedelta = timedelta(hours=24)
    poll_initial_interval_s: float = 1.0
    poll_max_interval_s: float = 15.0
    poll_timeout_s: float = 300.0

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
