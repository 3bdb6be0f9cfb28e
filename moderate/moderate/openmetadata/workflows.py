"""Pure builders of OpenMetadata workflow configurations (CONTRACT §7.2).

Secrets are ``${VARIABLE}`` placeholders (the names of CONTRACT §8.1, so a pod
takes them straight from the deployment's secret) that the runner resolves.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from moderate.openmetadata.versions import VersionLine

DEFAULT_DATALAKE_DATABASE = "default"
DAGSTER_TIMEOUT_S = 300
TOKEN_VARIABLE = "OPEN_METADATA_TOKEN"
POSTGRES_PASSWORD_VARIABLE = "POSTGRES_PASSWORD"
S3_ACCESS_KEY_VARIABLE = "S3_ACCESS_KEY_ID"
S3_SECRET_KEY_VARIABLE = "S3_SECRET_ACCESS_KEY"
DEFAULT_SYSTEM_SCHEMA_EXCLUDES: tuple[str, ...] = (
    "^information_schema$",
    "^pg_catalog$",
    "^pg_toast.*$",
    "^pg_temp_.*$",
)
"""PostgreSQL's own schemas, never catalogued (OpenMetadata regular expressions)."""


class WorkflowKind(StrEnum):
    """The workflows this feature runs; the value is the pipeline FQN suffix."""

    METADATA = "metadata"
    PROFILER = "profiler"
    AUTO_CLASSIFICATION = "autoClassification"
    LINEAGE = "lineage"
    PIPELINES = "pipelines"


SOURCE_CONFIGS: Mapping[WorkflowKind, Mapping[str, Any]] = {
    WorkflowKind.METADATA: {
        "type": "DatabaseMetadata",
        "markDeletedTables": True,
        "markDeletedSchemas": True,
        "includeTables": True,
        "includeViews": True,
    },
    WorkflowKind.PROFILER: {"type": "Profiler", "includeViews": True},
    WorkflowKind.AUTO_CLASSIFICATION: {
        "type": "AutoClassification",
        "storeSampleData": True,
        "enableAutoClassification": False,
    },
    WorkflowKind.LINEAGE: {
        "type": "DatabaseLineage",
        "processViewLineage": True,
        "processQueryLineage": True,
        "processStoredProcedureLineage": False,
    },
    WorkflowKind.PIPELINES: {
        "type": "PipelineMetadata",
        "includeLineage": True,
        "markDeletedPipelines": True,
        "lineageInformation": {"dbServiceNames": []},
    },
}
"""The ``sourceConfig`` every source shares for one kind of workflow."""
CONNECTED_POSTGRES_KINDS = (WorkflowKind.METADATA, WorkflowKind.LINEAGE)
"""The others use the connection the metadata run stored (the client key
``workflowConfig.openMetadataServerConfig.storeServiceConnection``, default true)."""


def secret_placeholder(variable: str) -> str:
    """The placeholder the runner replaces by the environment variable's value."""
    return f"${{{variable}}}"


@dataclass(frozen=True)
class ServerSettings:
    """The OpenMetadata server as the workflow sees it (``host_port`` ends in /api)."""

    host_port: str

    def __post_init__(self) -> None:
        if not self.host_port.rstrip("/").endswith("/api"):
            raise ValueError("the OpenMetadata hostPort must end in /api")


@dataclass(frozen=True)
class PostgresSource:
    """One database of the platform's Postgres server; ``schema_excludes`` skipped."""

    host: str
    port: int
    username: str
    database: str
    schema_excludes: tuple[str, ...] = DEFAULT_SYSTEM_SCHEMA_EXCLUDES


@dataclass(frozen=True)
class DatalakeSource:
    """One top-level ``prefix`` (``alice-assets/``); ``endpoint_url`` None: AWS."""

    bucket: str
    prefix: str
    region: str
    endpoint_url: str | None


@dataclass(frozen=True)
class DagsterSource:
    """This deployment's Dagster webserver (the connector appends ``/graphql``)."""

    host: str


@dataclass(frozen=True)
class WorkflowRequest:
    """A workflow configuration for release ``line``, needing ``secret_variables``."""

    kind: WorkflowKind
    service_name: str
    line: str
    config: Mapping[str, Any]
    secret_variables: tuple[str, ...] = ()

    @property
    def pipeline_fqn(self) -> str:
        """The ``ingestionPipelineFQN`` of the configuration."""
        return str(self.config["ingestionPipelineFQN"])

    def as_extras(self) -> dict[str, Any]:
        """Payload the runner process reads (Dagster Pipes extras)."""
        return {
            "workflow": self.kind.value,
            "config": dict(self.config),
            "expected_line": self.line,
        }


def datalake_table_pattern(prefix: str) -> str:
    """Case-sensitive regular expression of the keys (table names) under ``prefix``.

    OpenMetadata matches with ``re.match(pattern, key, re.IGNORECASE)``: the
    ``(?-i:...)`` group switches the case folding off.
    """
    return f"(?-i:{re.escape(prefix.rstrip('/') + '/')})"


def _postgres_connection(source: PostgresSource) -> dict[str, Any]:
    return {
        "type": "Postgres",
        "username": source.username,
        "authType": {"password": secret_placeholder(POSTGRES_PASSWORD_VARIABLE)},
        "hostPort": f"{source.host}:{source.port}",
        "database": source.database,
        "ingestAllDatabases": False,
    }


def _datalake_connection(source: DatalakeSource) -> dict[str, Any]:
    security = {
        "awsAccessKeyId": secret_placeholder(S3_ACCESS_KEY_VARIABLE),
        "awsSecretAccessKey": secret_placeholder(S3_SECRET_KEY_VARIABLE),
        "awsRegion": source.region,
    }
    if source.endpoint_url:
        security["endPointURL"] = source.endpoint_url
    return {
        "type": "Datalake",
        "configSource": {"securityConfig": security},
        "bucketName": source.bucket,
        "prefix": f"{source.prefix.rstrip('/')}/",
        "databaseName": DEFAULT_DATALAKE_DATABASE,
    }


def workflow_request(
    kind: WorkflowKind,
    source: PostgresSource | DatalakeSource | DagsterSource,
    service_name: str,
    server: ServerSettings,
    line: VersionLine,
    *,
    generate_sample_data: bool = False,
    query_lineage: bool = True,
) -> WorkflowRequest:
    """The configuration of workflow ``kind`` of service ``service_name``.

    Postgres workflows skip ``source.schema_excludes``; data-lake workflows keep
    only the source's prefix. ``generate_sample_data`` is for 1.5-line profilers;
    ``query_lineage`` needs ``pg_stat_statements`` (without, lineage fails).
    """
    source_config = dict(SOURCE_CONFIGS[kind])
    connection: dict[str, Any] | None = None
    secrets: tuple[str, ...] = ()
    if isinstance(source, DagsterSource):
        source_type = "dagster"
        connection = {
            "type": "Dagster",
            "host": source.host,
            "timeout": DAGSTER_TIMEOUT_S,
        }
    elif isinstance(source, PostgresSource):
        source_type = "postgres"
        if kind is not WorkflowKind.AUTO_CLASSIFICATION:
            excludes = list(source.schema_excludes)
            source_config["schemaFilterPattern"] = {"excludes": excludes}
        if kind in CONNECTED_POSTGRES_KINDS:
            connection = _postgres_connection(source)
            secrets = (POSTGRES_PASSWORD_VARIABLE,)
        if kind is WorkflowKind.LINEAGE:
            source_type = "postgres-lineage"
            source_config["processQueryLineage"] = query_lineage
    else:
        source_type = "datalake"
        source_config["includeViews"] = True
        source_config["useFqnForFiltering"] = False
        patterns = [datalake_table_pattern(source.prefix)]
        source_config["tableFilterPattern"] = {"includes": patterns}
        connection = _datalake_connection(source)
        secrets = (S3_ACCESS_KEY_VARIABLE, S3_SECRET_KEY_VARIABLE)
    if kind is WorkflowKind.PROFILER:
        source_config.update(line.profiler_sample_keys(generate_sample_data))
        if isinstance(source, DatalakeSource):
            source_config.update(line.datalake_profile_sample_keys())
    workflow_source: dict[str, Any] = {"type": source_type, "serviceName": service_name}
    if connection is not None:
        workflow_source["serviceConnection"] = {"config": connection}
    workflow_source["sourceConfig"] = {"config": source_config}
    config: dict[str, Any] = {"source": workflow_source}
    if kind in (WorkflowKind.PROFILER, WorkflowKind.AUTO_CLASSIFICATION):
        config["processor"] = {"type": "orm-profiler", "config": {}}
    config["sink"] = {"type": "metadata-rest", "config": {}}
    config["workflowConfig"] = {
        "loggerLevel": "INFO",
        "openMetadataServerConfig": {
            "hostPort": server.host_port,
            "authProvider": "openmetadata",
            "securityConfig": {"jwtToken": secret_placeholder(TOKEN_VARIABLE)},
        },
    }
    config["ingestionPipelineFQN"] = f"{service_name}.{kind.value}"
    return WorkflowRequest(
        kind=kind,
        service_name=service_name,
        line=line.line,
        config=config,
        secret_variables=(TOKEN_VARIABLE, *secrets),
    )
