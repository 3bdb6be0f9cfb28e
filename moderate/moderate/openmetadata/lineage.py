"""Lineage of the platform's own runs, and data-quality results, in OpenMetadata.

The sensor reads the Dagster instance, not the other features: materialisations
of the published dataset assets (``platform_asset_*``, whose metadata
``moderate/object_keys`` lists the uploaded object keys) and of the analysis
reports (``matrix_profile_reports``, metadata ``moderate/report_key``), and the
asset-check evaluations of the published assets. For each, it writes through the
OpenMetadata API:

- a lineage edge from the Dagster job's pipeline entity (catalogued by the
  Dagster connector) to each data-lake table of the run's objects or report;
- a test case per check on each of those tables, with the evaluation as result.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from moderate.automation import default_sensor_status
from moderate.openmetadata.client import CatalogClient, entity_reference
from moderate.openmetadata.naming import (
    DAGSTER_SERVICE_NAME,
    datalake_service_name,
    quote_fqn_part,
)
from moderate.openmetadata.workflows import DEFAULT_DATALAKE_DATABASE
from moderate.resources import OpenMetadataResource, S3Resource

PUBLISHED_ASSET_PREFIX = "platform_asset_"
REPORT_ASSET = AssetKey("matrix_profile_reports")
OBJECT_KEYS_METADATA = "moderate/object_keys"
REPORT_KEY_METADATA = "moderate/report_key"
RECORDS_PER_TICK = 100
SENSOR_INTERVAL_S = 300
TEST_DEFINITION = "dagsterAssetCheck"
TEST_CASE_PREFIX = "dagster_"
PIPELINES = "pipelines"
TABLES = "tables"
FEATURE_TAGS = {"moderate/feature": "openmetadata"}


@dataclass
class Cursor:
    """Where the sensor stopped: last materialisation storage id, last check row."""

    materialization: int = 0
    checks: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> "Cursor":
        """The cursor in ``raw``; a fresh one when absent or unreadable."""
        try:
            data = json.loads(raw) if raw else {}
            return cls(
                materialization=int(data.get("materialization", 0)),
                checks={
                    str(k): int(v) for k, v in dict(data.get("checks", {})).items()
                },
            )
        except (ValueError, TypeError, AttributeError, ArithmeticError, RecursionError):
            return cls()

    def dump(self) -> str:
        """The cursor as a string."""
        return json.dumps(
            {"materialization": self.materialization, "checks": self.checks}
        )


@dataclass
class Tally:
    """What one tick wrote."""

    edges: int = 0
    results: int = 0
    missing_tables: list[str] = field(default_factory=list)
    missing_pipelines: list[str] = field(default_factory=list)


def table_fqn(service: str, bucket: str, key: str) -> str:
    """FQN of the table of object ``key`` (database ``default``, schema = bucket)."""
    return ".".join(
        quote_fqn_part(part)
        for part in (service, DEFAULT_DATALAKE_DATABASE, bucket, key)
    )


def object_table_fqn(bucket: str, key: str) -> str:
    """The table of ``key`` under the service of its top-level prefix."""
    prefix = f"{key.split('/', 1)[0]}/"
    return table_fqn(datalake_service_name(prefix), bucket, key)


def metadata_value(metadata: Mapping[str, Any], name: str) -> Any:
    """The raw value of a metadata entry (``MetadataValue.value``), or None."""
    entry = metadata.get(name)
    return getattr(entry, "value", entry)


def object_keys_of(metadata: Mapping[str, Any], asset_key: AssetKey) -> list[str]:
    """Object keys a materialisation names (uploads, or the one report)."""
    if asset_key == REPORT_ASSET:
        report = metadata_value(metadata, REPORT_KEY_METADATA)
        return [str(report)] if report else []
    keys = metadata_value(metadata, OBJECT_KEYS_METADATA)
    return [str(key) for key in keys] if isinstance(keys, list) else []


def is_tracked(asset_key: AssetKey) -> bool:
    """Whether the sensor follows ``asset_key``."""
    return asset_key == REPORT_ASSET or asset_key.to_user_string().startswith(
        PUBLISHED_ASSET_PREFIX
    )


class Publisher:
    """Writes edges and test results, caching lookups within one tick."""

    def __init__(self, client: CatalogClient, bucket: str) -> None:
        """Publishes to ``client``'s server the tables of ``bucket``."""
        self.client = client
        self.bucket = bucket
        self.tally = Tally()
        self._tables: dict[str, dict[str, Any] | None] = {}
        self._pipelines: dict[str, dict[str, Any]] | None = None
        self._definition_ready = False

    def table(self, key: str) -> dict[str, Any] | None:
        """The catalogued table of object ``key``, or None."""
        fqn = object_table_fqn(self.bucket, key)
        if fqn not in self._tables:
            self._tables[fqn] = self.client.get_by_name(TABLES, fqn)
            if self._tables[fqn] is None:
                self.tally.missing_tables.append(key)
        return self._tables[fqn]

    def pipelines(self) -> dict[str, dict[str, Any]]:
        """Pipelines of the Dagster service, by job name (their display name)."""
        if self._pipelines is None:
            self._pipelines = {
                str(pipeline.get("displayName") or pipeline["name"]): pipeline
                for pipeline in self.client.list_all(
                    PIPELINES, {"service": DAGSTER_SERVICE_NAME}
                )
            }
        return self._pipelines

    def lineage(self, job_name: str, run_id: str, keys: Iterable[str]) -> None:
        """Edges from the job's pipeline to the tables of ``keys``."""
        pipeline = self.pipelines().get(job_name)
        if pipeline is None:
            self.tally.missing_pipelines.append(job_name)
            return
        for key in keys:
            table = self.table(key)
            if table is None:
                continue
            self.client.add_lineage(
                entity_reference(pipeline, "pipeline"),
                entity_reference(table, "table"),
                description=f"Dagster run {run_id} of {job_name} wrote {key}",
            )
            self.tally.edges += 1

    def _ensure_definition(self) -> None:
        if self._definition_ready:
            return
        if (
            self.client.get_by_name("dataQuality/testDefinitions", TEST_DEFINITION)
            is None
        ):
            self.client.put(
                "dataQuality/testDefinitions",
                {
                    "name": TEST_DEFINITION,
                    "displayName": "Dagster asset check",
                    "description": "Result of a Dagster asset check of the table's "
                    "publishing pipeline.",
                    "entityType": "TABLE",
                    "testPlatforms": ["Dagster"],
                    "parameterDefinition": [],
                },
            )
        self._definition_ready = True

    def check_result(
        self,
        check_name: str,
        passed: bool,
        timestamp_ms: int,
        description: str,
        keys: Iterable[str],
    ) -> None:
        """One test case per table of ``keys``, with this evaluation as result."""
        for key in keys:
            table = self.table(key)
            if table is None:
                continue
            self._ensure_definition()
            fqn = str(table["fullyQualifiedName"])
            self.client.put(
                "dataQuality/testSuites/executable",
                {"name": f"{fqn}.testSuite", "basicEntityReference": fqn},
            )
            case = self.client.put(
                "dataQuality/testCases",
                {
                    "name": f"{TEST_CASE_PREFIX}{check_name}",
                    "entityLink": f"<#E::table::{fqn}>",
                    "testDefinition": TEST_DEFINITION,
                    "parameterValues": [],
                },
            )
            self.client.post(
                "dataQuality/testCases/testCaseResults/"
                f"{case['fullyQualifiedName']}",
                {
                    "timestamp": timestamp_ms,
                    "testCaseStatus": "Success" if passed else "Failed",
                    "result": description,
                },
            )
            self.tally.results += 1


def _materialization_keys(
    instance: DagsterInstance, asset_key: AssetKey, storage_id: int
) -> list[str]:
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, storage_ids=[storage_id]), limit=1
    )
    for record in result.records:
        materialization = record.asset_materialization
        if materialization is not None:
            return object_keys_of(materialization.metadata, asset_key)
    return []


def publish_new_events(
    instance: DagsterInstance,
    asset_keys: Sequence[AssetKey],
    check_keys: Sequence[AssetCheckKey],
    publisher: Publisher,
    cursor: Cursor,
) -> Cursor:
    """Publishes what happened after ``cursor``; returns the advanced cursor."""
    advanced = Cursor(
        materialization=cursor.materialization, checks=dict(cursor.checks)
    )
    for asset_key in filter(is_tracked, asset_keys):
        records = instance.fetch_materializations(
            AssetRecordsFilter(
                asset_key=asset_key, after_storage_id=cursor.materialization
            ),
            limit=RECORDS_PER_TICK,
            ascending=True,
        ).records
        for record in records:
            materialization = record.asset_materialization
            run = instance.get_run_by_id(record.run_id)
            if materialization is not None and run is not None:
                publisher.lineage(
                    run.job_name,
                    record.run_id,
                    object_keys_of(materialization.metadata, asset_key),
                )
            advanced.materialization = max(advanced.materialization, record.storage_id)
    for check_key in check_keys:
        if not is_tracked(check_key.asset_key):
            continue
        name = check_key.to_user_string()
        last = cursor.checks.get(name, 0)
        history = instance.event_log_storage.get_asset_check_execution_history(
            check_key, limit=RECORDS_PER_TICK
        )
        for check_record in sorted(history, key=lambda item: item.id):
            event = check_record.event
            evaluation = event.dagster_event if event else None
            data = evaluation.event_specific_data if evaluation else None
            if check_record.id <= last or not isinstance(data, AssetCheckEvaluation):
                continue
            target = getattr(data, "target_materialization_data", None)
            keys = (
                _materialization_keys(instance, check_key.asset_key, target.storage_id)
                if target is not None
                else []
            )
            publisher.check_result(
                check_key.name,
                bool(data.passed),
                int(check_record.create_timestamp * 1000),
                data.description or f"{check_key.name} passed={data.passed}",
                keys,
            )
            advanced.checks[name] = max(advanced.checks.get(name, 0), check_record.id)
    return advanced


@sensor(
    name="openmetadata_lineage_sensor",
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=default_sensor_status(),
    description="Writes lineage edges (Dagster job -> data-lake tables) for each "
    "dataset-publishing and analysis run, and the datasets' asset-check results "
    "as OpenMetadata test-case results.",
    tags=FEATURE_TAGS,
)
def openmetadata_lineage_sensor(
    context: SensorEvaluationContext,
    openmetadata: OpenMetadataResource,
    s3: S3Resource,
) -> SensorResult | SkipReason:
    """One tick: the new materialisations and check evaluations since the cursor."""
    missing = [*openmetadata.missing_variables(), *s3.missing_variables()]
    if missing:
        return SkipReason(
            f"OpenMetadata lineage is not configured: set {', '.join(missing)}"
        )
    if context.repository_def is None:
        return SkipReason("no repository definition in the sensor context")
    graph = context.repository_def.asset_graph
    publisher = Publisher(
        CatalogClient.from_resource(openmetadata), s3.data_lake_bucket
    )
    cursor = publish_new_events(
        context.instance,
        sorted(graph.get_all_asset_keys(), key=AssetKey.to_user_string),
        sorted(graph.asset_check_keys, key=AssetCheckKey.to_user_string),
        publisher,
        Cursor.parse(context.cursor),
    )
    tally = publisher.tally
    context.log.info(
        f"{tally.edges} lineage edges, {tally.results} test results; tables not "
        f"catalogued: {tally.missing_tables[:10]}; jobs without a pipeline entity: "
        f"{sorted(set(tally.missing_pipelines))}"
    )
    return SensorResult(cursor=cursor.dump())
