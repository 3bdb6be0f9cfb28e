"""Names and tuning of the trust flows: page sizes, per-tick caps and backoff.

Sensors cannot take run config, so their limits live in :class:`TrustSettings`,
which extends the ops' :class:`TrustBatchConfig`: the sensors copy those fields
into the run config of every run they request, so one object decides the
behaviour of the whole flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from dagster import Config
from pydantic import ConfigDict, Field, NonNegativeFloat, PositiveFloat

from moderate.state import exponential_backoff, utc_now
from moderate.trust.tasks import DID_ROUTE, PROOF_ROUTE, Outcome, PollPolicy, TrustRoute

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
        route: The Trust route that gives an item its DID or proof.
    """

    name: str
    namespace: str
    op_name: str
    job_name: str
    route: TrustRoute


USER_DIDS = Flow(
    "did",
    USER_DID_NAMESPACE,
    "create_user_dids",
    "propagate_new_user_to_trust_services_job",
    DID_ROUTE,
)
OBJECT_PROOFS = Flow(
    "proof",
    OBJECT_PROOF_NAMESPACE,
    "create_object_proofs",
    "create_asset_object_proof_job",
    PROOF_ROUTE,
)


class TrustBatchConfig(Config):
    """Run config shared by both trust ops (filled in by the sensors)."""

    poll_initial_interval_s: PositiveFloat = 1.0
    poll_max_interval_s: PositiveFloat = 15.0
    poll_timeout_s: PositiveFloat = Field(
        default=300.0,
        description="How long to wait for a Trust task before a retryable failure.",
    )
    pending_timeout_s: NonNegativeFloat = Field(
        default=3600.0,
        description="How long an item stays claimed while this run works on it.",
    )
    retry_base_s: PositiveFloat = 300.0
    retry_cap_s: PositiveFloat = timedelta(hours=6).total_seconds()
    blocked_owner_retry_base_s: PositiveFloat = 3600.0
    blocked_owner_retry_cap_s: PositiveFloat = timedelta(hours=24).total_seconds()

    def poll_policy(self) -> PollPolicy:
        """Polling bounds of this run."""
        return PollPolicy(
            self.poll_initial_interval_s, self.poll_max_interval_s, self.poll_timeout_s
        )

    def retry_at(self, outcome: Outcome, attempts: int) -> datetime | None:
        """Next attempt after a failure; None for a permanent one."""
        if outcome is Outcome.TRANSIENT:
            base, cap = self.retry_base_s, self.retry_cap_s
        elif outcome is Outcome.BLOCKED_OWNER:
            base, cap = self.blocked_owner_retry_base_s, self.blocked_owner_retry_cap_s
        else:
            return None
        return exponential_backoff(
            attempts, timedelta(seconds=base), timedelta(seconds=cap), utc_now()
        )

    def batch_config(self) -> dict[str, float]:
        """These fields alone, as the run config of a batch."""
        return self.model_dump(include=set(TrustBatchConfig.model_fields))


class TrustSettings(TrustBatchConfig):
    """Limits of the DID and proof flows, plus the ops' run config (validated).

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
    """

    # Built in code, not from run config: a misspelt limit must not fall back.
    model_config = ConfigDict(extra="forbid")

    user_page_size: PageSize = MAX_PAGE_SIZE
    max_user_pages_per_tick: AtLeastOne = 100
    object_page_size: PageSize = MAX_PAGE_SIZE
    max_object_pages_per_tick: AtLeastOne = 100
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)] = 100
    max_runs_per_tick: AtLeastOne = 2
    max_runs_in_flight: AtLeastOne = 2
    tick_budget_s: float = 40.0
    full_reconciliation_interval: timedelta = timedelta(hours=24)


DEFAULT_TRUST_SETTINGS = TrustSettings()
