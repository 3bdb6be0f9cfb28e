"""Lineage of the platform's own runs, and data-quality results, in OpenMetadata.

The sensor reads the Dagster instance, not the other features: materialisations of
``platform_asset_*`` and ``matrix_profile_reports`` become edges from the job's
pipeline entity to the data-lake tables of their objects; the published assets'
check evaluations become test-case results on those tables.
"""

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
from pydantic import ConfigDict, Field

from moderate.automation import default_sensor_status
from moderate.openmetadata.naming import (
    DAGSTER_SERVICE_NAME,
    datalake_service_name,
    entity_reference,
    quote_fqn_part,
)
from moderate.openmetadata.steps import FEATURE_TAGS
from moderate.openmetadata.workflows import DEFAULT_DATALAKE_DATABASE
from moderate.resources import OpenMetadataResource, S3Resource
from moderate.support.cursors import JsonCursor
from moderate.support.naming import OBJECT_KEYS_METADATA, REPORT_KEY_METADATA

PUBLISHED_ASSET_PREFIX = "platform_asset_"
REPORT_ASSET = AssetKey("matrix_profile_reports")
RECORDS_PER_TICK = 100
SENSOR_INTERVAL_S = 300
TEST_DEFINITION = "dagsterAssetCheck"
TEST_DEFINITIONS = "dataQuality/testDefinitions"
TEST_CASE_PREFIX = "dagster_"


class Cursor(JsonCursor):
    """Where the sensor stopped: last materialisation storage id, last check row."""

    model_config = ConfigDict(frozen=False)  # the sensor advances a copy in place

    materialization: int = 0
    checks: dict[str, int] = Field(default_factory=dict)


def object_table_fqn(bucket: str, key: str) -> str:
    """FQN of object ``key``'s table: its prefix's service, ``default``, bucket, key."""
    service = datalake_service_name(f"{key.split('/', 1)[0]}/")
    parts = (service, DEFAULT_DATALAKE_DATABASE, bucket, key)
    return ".".join(quote_fqn_part(part) for part in parts)


def object_keys_of(metadata: Mapping[str, Any], asset_key: AssetKey) -> list[str]:
    """Object keys a materialisation names (uploads, or the one report)."""
    name = REPORT_KEY_METADATA if asset_key == REPORT_ASSET else OBJECT_KEYS_METADATA
    value = getattr(metadata.get(name), "value", metadata.get(name))
    if asset_key == REPORT_ASSET:
        return [str(value)] if value else []
    return [str(key) for key in value] if isinstance(value, list) else []


def is_tracked(asset_key: AssetKey) -> bool:
    """Whether the sensor follows ``asset_key``."""
    return asset_key == REPORT_ASSET or asset_key.to_user_string().startswith(
        PUBLISHED_ASSET_PREFIX
    )


@dataclass
class Publisher:
    """Writes edges and test results for ``bucket``'s tables, caching per tick."""

    client: OpenMetadataResource
    bucket: str
    edges: int = 0
    results: int = 0
    missing_tables: list[str] = field(default_factory=list)
    missing_pipelines: set[str] = field(default_factory=set)
    _tables: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    _pipelines: dict[str, dict[str, Any]] | None = None
    _definition_ready: bool = False

    def tables(self, keys: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
        """The objects of ``keys`` that have a catalogued table, with the table."""
        found = []
        for key in keys:
            fqn = object_table_fqn(self.bucket, key)
            if fqn not in self._tables:
                self._tables[fqn] = self.client.get_by_name("tables", fqn)
                if self._tables[fqn] is None:
                    self.missing_tables.append(key)
            table = self._tables[fqn]
            if table is not None:
                found.append((key, table))
        return found

    def lineage(self, job_name: str, run_id: str, keys: Iterable[str]) -> None:
        """Edges from the job's pipeline (matched by display name) to the tables."""
        if self._pipelines is None:
            listed = self.client.list_all(
                "pipelines", {"service": DAGSTER_SERVICE_NAME}
            )
            self._pipelines = {
                str(p.get("displayName") or p["name"]): p for p in listed
            }
        pipeline = self._pipelines.get(job_name)
        if pipeline is None:
            self.missing_pipelines.add(job_name)
            return
        for key, table in self.tables(keys):
            edge = {
                "fromEntity": entity_reference(pipeline, "pipeline"),
                "toEntity": entity_reference(table, "table"),
                "lineageDetails": {
                    "description": f"Dagster run {run_id} of {job_name} wrote {key}"
                },
            }
            self.client.put("lineage", {"edge": edge})
            self.edges += 1

    def check_result(
        self,
        check_name: str,
        passed: bool,
        timestamp_ms: int,
        description: str,
        keys: Iterable[str],
    ) -> None:
        """One test case per table of ``keys``, with this evaluation as result."""
        for _, table in self.tables(keys):
            if not self._definition_ready:
                if self.client.get_by_name(TEST_DEFINITIONS, TEST_DEFINITION) is None:
                    self.client.put(
                        TEST_DEFINITIONS,
                        {
                            "name": TEST_DEFINITION,
                            "displayName": "Dagster asset check",
                            "description": "Result of a Dagster asset check of the "
                            "table's publishing pipeline.",
                            "entityType": "TABLE",
                            "testPlatforms": ["Dagster"],
                            "parameterDefinition": [],
                        },
                    )
                self._definition_ready = True
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
            self.client.send(
                "POST",
                f"dataQuality/testCases/testCaseResults/{case['fullyQualifiedName']}",
                body={
                    "timestamp": timestamp_ms,
                    "testCaseStatus": "Success" if passed else "Failed",
                    "result": description,
                },
            )
            self.results += 1


def publish_new_events(
    instance: DagsterInstance,
    asset_keys: Sequence[AssetKey],
    check_keys: Sequence[AssetCheckKey],
    publisher: Publisher,
    cursor: Cursor,
) -> Cursor:
    """Publishes what happened after ``cursor``; returns the advanced cursor."""
    advanced = cursor.model_copy(deep=True)
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
                written = object_keys_of(materialization.metadata, asset_key)
                publisher.lineage(run.job_name, record.run_id, written)
            advanced.materialization = max(advanced.materialization, record.storage_id)
    for check_key in (key for key in check_keys if is_tracked(key.asset_key)):
        name = check_key.to_user_string()
        history = instance.event_log_storage.get_asset_check_execution_history(
            check_key, limit=RECORDS_PER_TICK
        )
        for check_record in sorted(history, key=lambda item: item.id):
            event = check_record.event
            evaluation = event.dagster_event if event else None
            data = evaluation.event_specific_data if evaluation else None
            if check_record.id <= cursor.checks.get(name, 0) or not isinstance(
                data, AssetCheckEvaluation
            ):
                continue
            target = data.target_materialization_data
            evaluated = (
                instance.fetch_materializations(
                    AssetRecordsFilter(
                        asset_key=check_key.asset_key, storage_ids=[target.storage_id]
                    ),
                    limit=1,
                ).records
                if target
                else []
            )
            of = evaluated[0].asset_materialization if evaluated else None
            keys = object_keys_of(of.metadata, check_key.asset_key) if of else []
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
    publisher = Publisher(openmetadata, s3.data_lake_bucket)
    cursor = publish_new_events(
        context.instance,
        sorted(graph.get_all_asset_keys(), key=AssetKey.to_user_string),
        sorted(graph.asset_check_keys, key=AssetCheckKey.to_user_string),
        publisher,
        Cursor.parse(context.cursor),
    )
    context.log.info(
        f"{publisher.edges} lineage edges, {publisher.results} test results; tables "
        f"not catalogued: {publisher.missing_tables[:10]}; jobs without a pipeline "
        f"entity: {sorted(publisher.missing_pipelines)}"
    )
    return SensorResult(cursor=cursor.model_dump_json())
