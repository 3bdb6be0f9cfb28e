"""Pure builders of OpenMetadata workflow configurations (CONTRACT §7.2).

The builders never see a secret: password, keys and token are written as
``${VARIABLE}`` placeholders that the runner process resolves from its own
environment. The variable names are those of CONTRACT §8.1, so a Kubernetes pod
can take them straight from the deployment's secret.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from moderate.openmetadata.versions import VersionLine

SINK = {"type": "metadata-rest", "config": {}}
PROFILER_PROCESSOR = {"type": "orm-profiler", "config": {}}
AUTH_PROVIDER = "openmetadata"
DEFAULT_LOGGER_LEVEL = "INFO"
DEFAULT_DATALAKE_DATABASE = "default"
DEFAULT_DAGSTER_TIMEOUT_S = 300
TOKEN_VARIABLE = "OPEN_METADATA_TOKEN"
POSTGRES_PASSWORD_VARIABLE = "POSTGRES_PASSWORD"
S3_ACCESS_KEY_VARIABLE = "S3_ACCESS_KEY_ID"
S3_SECRET_KEY_VARIABLE = "S3_SECRET_ACCESS_KEY"
API_SUFFIX = "/api"


DEFAULT_SYSTEM_SCHEMA_EXCLUDES: tuple[str, ...] = (
    "^information_schema$",
    "^pg_catalog$",
    "^pg_toast.*$",
    "^pg_temp_.*$",
)
"""PostgreSQL's own schemas, never catalogued (OpenMetadata regular expressions)."""
CASE_SENSITIVE_GROUP = "(?-i:{})"
"""OpenMetadata matches filter patterns with ``re.match(..., re.IGNORECASE)``;
this inline group switches case folding off for the text it wraps."""


class WorkflowKind(StrEnum):
    """The workflows this feature runs; the value is the pipeline FQN suffix."""

    METADATA = "metadata"
    PROFILER = "profiler"
    AUTO_CLASSIFICATION = "autoClassification"
    LINEAGE = "lineage"
    PIPELINES = "pipelines"


def secret_placeholder(variable: str) -> str:
    """The placeholder the runner replaces by the environment variable's value."""
    return f"${{{variable}}}"


def pipeline_fqn(service_name: str, kind: WorkflowKind) -> str:
    """``<service>.<kind>``: ``.metadata``, ``.profiler``, ``.autoClassification``."""
    return f"{service_name}.{kind.value}"


@dataclass(frozen=True)
class ServerSettings:
    """The OpenMetadata server as the workflow sees it.

    Attributes:
        host_port: Server URL ending in ``/api``.
        logger_level: Workflow log level.
    """

    host_port: str
    logger_level: str = DEFAULT_LOGGER_LEVEL

    def __post_init__(self) -> None:
        """Rejects a server URL without the required ``/api`` suffix."""
        if not self.host_port.rstrip("/").endswith(API_SUFFIX):
            raise ValueError("the OpenMetadata hostPort must end in /api")


@dataclass(frozen=True)
class PostgresSource:
    """One database on the platform's Postgres server.

    Attributes:
        host: Server host as the workflow process reaches it.
        port: Server port.
        username: User name (the password travels as a placeholder).
        database: The database to ingest.
    """

    host: str
    port: int
    username: str
    database: str


@dataclass(frozen=True)
class DatalakeSource:
    """The data-lake bucket seen through the S3 API.

    Attributes:
        bucket: Bucket name.
        prefix: Top-level prefix (``alice-assets/``) this service covers.
        region: S3 region.
        endpoint_url: S3 endpoint; None for AWS itself.
        database_name: Database name the connector reports.
    """

    bucket: str
    prefix: str
    region: str
    endpoint_url: str | None
    database_name: str = DEFAULT_DATALAKE_DATABASE


@dataclass(frozen=True)
class WorkflowRequest:
    """A complete workflow configuration ready for a runner.

    Attributes:
        kind: Which workflow to run.
        service_name: OpenMetadata service name.
        line: Release line (``major.minor``) the configuration is written for.
        config: The configuration (secrets as placeholders).
        secret_variables: Environment variables the runner process needs.
    """

    kind: WorkflowKind
    service_name: str
    line: str
    config: Mapping[str, Any]
    secret_variables: tuple[str, ...] = field(default=())

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


def _workflow_config(server: ServerSettings) -> dict[str, Any]:
    return {
        "loggerLevel": server.logger_level,
        "openMetadataServerConfig": {
            "hostPort": server.host_port,
            "authProvider": AUTH_PROVIDER,
            "securityConfig": {"jwtToken": secret_placeholder(TOKEN_VARIABLE)},
        },
    }


def _request(
    *,
    kind: WorkflowKind,
    source: dict[str, Any],
    service_name: str,
    server: ServerSettings,
    line: VersionLine,
    secret_variables: tuple[str, ...],
) -> WorkflowRequest:
    config: dict[str, Any] = {"source": source}
    if kind in (WorkflowKind.PROFILER, WorkflowKind.AUTO_CLASSIFICATION):
        config["processor"] = dict(PROFILER_PROCESSOR)
    config["sink"] = dict(SINK)
    config["workflowConfig"] = _workflow_config(server)
    config["ingestionPipelineFQN"] = pipeline_fqn(service_name, kind)
    return WorkflowRequest(
        kind=kind,
        service_name=service_name,
        line=line.line,
        config=config,
        secret_variables=(TOKEN_VARIABLE, *secret_variables),
    )


def postgres_connection(source: PostgresSource) -> dict[str, Any]:
    """``serviceConnection.config`` of one Postgres database."""
    return {
        "type": "Postgres",
        "username": source.username,
        "authType": {"password": secret_placeholder(POSTGRES_PASSWORD_VARIABLE)},
        "hostPort": f"{source.host}:{source.port}",
        "database": source.database,
        "ingestAllDatabases": False,
    }


def schema_filter(excludes: Sequence[str]) -> dict[str, Any]:
    """``schemaFilterPattern`` that drops the schemas matching ``excludes``."""
    return {"schemaFilterPattern": {"excludes": list(excludes)}}


def postgres_metadata_request(
    source: PostgresSource,
    service_name: str,
    server: ServerSettings,
    line: VersionLine,
    schema_excludes: Sequence[str] = DEFAULT_SYSTEM_SCHEMA_EXCLUDES,
) -> WorkflowRequest:
    """Metadata workflow of one Postgres database.

    Dropped schemas and tables are marked deleted; system schemas are skipped.
    """
    return _request(
        kind=WorkflowKind.METADATA,
        source={
            "type": "postgres",
            "serviceName": service_name,
            "serviceConnection": {"config": postgres_connection(source)},
            "sourceConfig": {
                "config": {
                    "type": "DatabaseMetadata",
                    "markDeletedTables": True,
                    "markDeletedSchemas": True,
                    "includeTables": True,
                    "includeViews": True,
                    **schema_filter(schema_excludes),
                }
            },
        },
        service_name=service_name,
        server=server,
        line=line,
        secret_variables=(POSTGRES_PASSWORD_VARIABLE,),
    )


def postgres_profiler_request(
    service_name: str,
    server: ServerSettings,
    line: VersionLine,
    *,
    generate_sample_data: bool,
    schema_excludes: Sequence[str] = DEFAULT_SYSTEM_SCHEMA_EXCLUDES,
) -> WorkflowRequest:
    """Profiler workflow of one Postgres database (tables and views).

    It carries no connection: the workflow reads the one stored by the metadata
    run, which the server keeps because the workflow configuration leaves the
    client key ``workflowConfig.openMetadataServerConfig.storeServiceConnection``
    at its default (true).
    """
    return _request(
        kind=WorkflowKind.PROFILER,
        source={
            "type": "postgres",
            "serviceName": service_name,
            "sourceConfig": {
                "config": {
                    "type": "Profiler",
                    "includeViews": True,
                    **schema_filter(schema_excludes),
                    **line.profiler_sample_keys(generate_sample_data),
                }
            },
        },
        service_name=service_name,
        server=server,
        line=line,
        secret_variables=(),
    )


def postgres_sample_data_request(
    service_name: str, server: ServerSettings, line: VersionLine
) -> WorkflowRequest:
    """Sample-data workflow of one Postgres database (lines with a separate one)."""
    return _request(
        kind=WorkflowKind.AUTO_CLASSIFICATION,
        source={
            "type": "postgres",
            "serviceName": service_name,
            "sourceConfig": {"config": _sample_data_source_config()},
        },
        service_name=service_name,
        server=server,
        line=line,
        secret_variables=(),
    )


def postgres_lineage_request(
    source: PostgresSource,
    service_name: str,
    server: ServerSettings,
    line: VersionLine,
    schema_excludes: Sequence[str] = DEFAULT_SYSTEM_SCHEMA_EXCLUDES,
    *,
    query_lineage: bool = True,
) -> WorkflowRequest:
    """Database-lineage workflow of one Postgres database: view and query lineage.

    Query lineage reads the ``pg_stat_statements`` view; the workflow fails on a
    database without it, so ``query_lineage`` is switched off there.
    """
    return _request(
        kind=WorkflowKind.LINEAGE,
        source={
            "type": "postgres-lineage",
            "serviceName": service_name,
            "serviceConnection": {"config": postgres_connection(source)},
            "sourceConfig": {
                "config": {
                    "type": "DatabaseLineage",
                    "processViewLineage": True,
                    "processQueryLineage": query_lineage,
                    "processStoredProcedureLineage": False,
                    **schema_filter(schema_excludes),
                }
            },
        },
        service_name=service_name,
        server=server,
        line=line,
        secret_variables=(POSTGRES_PASSWORD_VARIABLE,),
    )


def datalake_table_pattern(prefix: str) -> str:
    """Anchored, case-sensitive regular expression of the keys under ``prefix``.

    Matched against the table name (the full object key) with OpenMetadata's
    ``re.match(pattern, name, re.IGNORECASE)``: the ``(?-i:...)`` group undoes
    the case folding, ``re.match`` anchors it at the start of the key.
    """
    folder = f"{prefix.rstrip('/')}/"
    return CASE_SENSITIVE_GROUP.format(re.escape(folder))


def datalake_connection(source: DatalakeSource) -> dict[str, Any]:
    """``serviceConnection.config`` of the data-lake bucket."""
    security: dict[str, Any] = {
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
        "databaseName": source.database_name,
    }


def _datalake_source(
    source: DatalakeSource, service_name: str, source_config: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "datalake",
        "serviceName": service_name,
        "serviceConnection": {"config": datalake_connection(source)},
        "sourceConfig": {"config": source_config},
    }


def _prefix_filter(source: DatalakeSource) -> dict[str, Any]:
    """Second guard behind the connector's ``prefix``: only keys under it."""
    return {
        "useFqnForFiltering": False,
        "tableFilterPattern": {"includes": [datalake_table_pattern(source.prefix)]},
    }


def _sample_data_source_config() -> dict[str, Any]:
    return {
        "type": "AutoClassification",
        "storeSampleData": True,
        "enableAutoClassification": False,
    }


def datalake_metadata_request(
    source: DatalakeSource,
    service_name: str,
    server: ServerSettings,
    line: VersionLine,
) -> WorkflowRequest:
    """Metadata workflow of one top-level prefix of the data lake."""
    source_config = {
        "type": "DatabaseMetadata",
        "markDeletedTables": True,
        "markDeletedSchemas": True,
        "includeTables": True,
        "includeViews": True,
        **_prefix_filter(source),
    }
    return _request(
        kind=WorkflowKind.METADATA,
        source=_datalake_source(source, service_name, source_config),
        service_name=service_name,
        server=server,
        line=line,
        secret_variables=(S3_ACCESS_KEY_VARIABLE, S3_SECRET_KEY_VARIABLE),
    )


def datalake_profiler_request(
    source: DatalakeSource,
    service_name: str,
    server: ServerSettings,
    line: VersionLine,
    *,
    generate_sample_data: bool,
) -> WorkflowRequest:
    """Profiler workflow of one top-level prefix of the data lake."""
    source_config = {
        "type": "Profiler",
        "includeViews": True,
        **_prefix_filter(source),
        **line.profiler_sample_keys(generate_sample_data),
        **line.datalake_profile_sample_keys(),
    }
    return _request(
        kind=WorkflowKind.PROFILER,
        source=_datalake_source(source, service_name, source_config),
        service_name=service_name,
        server=server,
        line=line,
        secret_variables=(S3_ACCESS_KEY_VARIABLE, S3_SECRET_KEY_VARIABLE),
    )


def datalake_sample_data_request(
    source: DatalakeSource,
    service_name: str,
    server: ServerSettings,
    line: VersionLine,
) -> WorkflowRequest:
    """Sample-data workflow of one prefix (lines with a separate one)."""
    source_config = {
        **_sample_data_source_config(),
        "includeViews": True,
        **_prefix_filter(source),
    }
    return _request(
        kind=WorkflowKind.AUTO_CLASSIFICATION,
        source=_datalake_source(source, service_name, source_config),
        service_name=service_name,
        server=server,
        line=line,
        secret_variables=(S3_ACCESS_KEY_VARIABLE, S3_SECRET_KEY_VARIABLE),
    )


@dataclass(frozen=True)
class DagsterSource:
    """This deployment's Dagster webserver, whose GraphQL API the connector reads.

    Attributes:
        host: Webserver URL (the connector appends ``/graphql``).
        timeout_s: Time limit of one GraphQL call.
    """

    host: str
    timeout_s: int = DEFAULT_DAGSTER_TIMEOUT_S


def dagster_pipelines_request(
    source: DagsterSource,
    service_name: str,
    server: ServerSettings,
    line: VersionLine,
    lineage_services: Sequence[str] = (),
) -> WorkflowRequest:
    """Pipeline-metadata workflow of OpenMetadata's own Dagster connector.

    Every job of the code location becomes a pipeline (ops as tasks, recent runs
    as statuses); assets are resolved to tables of ``lineage_services``.
    """
    return _request(
        kind=WorkflowKind.PIPELINES,
        source={
            "type": "dagster",
            "serviceName": service_name,
            "serviceConnection": {
                "config": {
                    "type": "Dagster",
                    "host": source.host,
                    "timeout": source.timeout_s,
                }
            },
            "sourceConfig": {
                "config": {
                    "type": "PipelineMetadata",
                    "includeLineage": True,
                    "markDeletedPipelines": True,
                    "lineageInformation": {"dbServiceNames": list(lineage_services)},
                }
            },
        },
        service_name=service_name,
        server=server,
        line=line,
        secret_variables=(),
    )
