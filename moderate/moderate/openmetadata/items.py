"""What flows between the steps of the ingestion jobs."""

import hashlib
from dataclasses import dataclass, field

from moderate.openmetadata.runners import WorkflowOutcome, WorkflowRunner
from moderate.openmetadata.workflows import DEFAULT_SYSTEM_SCHEMA_EXCLUDES
from moderate.support.naming import slugify

MAPPING_KEY_HASH_LENGTH = 8


def mapping_key(name: str) -> str:
    """A dynamic-output key for ``name``: ``[a-z0-9_]`` plus a short hash."""
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:MAPPING_KEY_HASH_LENGTH]
    return f"{slugify(name).replace('-', '_')[:40]}_{digest}"


@dataclass(frozen=True)
class IngestionItem:
    """One unit of ingestion: a database or a data-lake prefix.

    Attributes:
        name: The database name or the prefix as listed.
        service_name: OpenMetadata service name.
        line: Release line the configurations are written for.
        runner: Runner of the workflows.
        generate_sample_data: Whether to store sample rows.
        bucket: Data-lake bucket (prefixes only).
        schema_excludes: Schemas never catalogued (databases only).
    """

    name: str
    service_name: str
    line: str
    runner: WorkflowRunner
    generate_sample_data: bool
    bucket: str | None = None
    schema_excludes: tuple[str, ...] = DEFAULT_SYSTEM_SCHEMA_EXCLUDES


@dataclass(frozen=True)
class ItemResult:
    """Statuses of the workflows of one item (workflow kind to status)."""

    name: str
    service_name: str
    statuses: dict[str, str] = field(default_factory=dict)

    def with_outcome(self, outcome: WorkflowOutcome) -> "ItemResult":
        """A copy that also records ``outcome``."""
        return ItemResult(
            name=self.name,
            service_name=self.service_name,
            statuses={**self.statuses, outcome.request.kind.value: outcome.status},
        )


@dataclass(frozen=True)
class ItemProgress:
    """An item with the results of the workflows that already ran for it."""

    item: IngestionItem
    result: ItemResult
