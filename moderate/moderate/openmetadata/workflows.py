"""Pure builders of OpenMetadata workflow configurations (CONTRACT §7.2).

The builders never see a secret: password, keys and token are written as
``${VARIABLE}`` placeholders that the runner process resolves from its own
environment. The variable names are those of CONTRACT §8.1, so a Kubernetes pod
can take them straight from the deployment's secret.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from moderate.openmetadata.versions import VersionLine

SINK = {"type": "metadata-rest", "config": {}}
PROFILER_PROCESSOR = {"type": "orm-profiler", "config": {}}
AUTH_PROVIDER = "openmetadata"
DEFAULT_LOGGER_LEVEL = "INFO"
DEFAULT_DATALAKE_DATABASE = "default"
TOKEN_VARIABLE = "OPEN_METADATA_TOKEN"
POSTGRES_PASSWORD_VARIABLE = "POSTGRES_PASSWORD"
S3_ACCESS_KEY_VARIABLE = "S3_ACCESS_KEY_ID"
S3_SECRET_KEY_VARIABLE = "S3_SECRET_ACCESS_KEY"
API_SUFFIX = "/api"


class WorkflowKind(StrEnum):
    """The workflows this feature runs; the value is the pipeline FQN suffix."""

    METADATA = "metadata"
    PROFILER = "profiler"
    AUTO_CLASSIFICATION = "autoClassification"


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
    if kind is not WorkflowKind.METADATA:
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


def postgres_metadata_request(
    source: PostgresSource,
    service_name: str,
    server: ServerSettings,
    line: VersionLine,
) -> WorkflowRequest:
    """Metadata workflow of one Postgres database."""
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
                    "includeTables": True,
                    "includeViews": True,
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
) -> WorkflowRequest:
    """Profiler workflow of one Postgres database.

    It carries no connection: the workflow reads the one stored by the metadata
    run, so ``storeServiceConnection`` must stay enabled on the server.
    """
    return _request(
        kind=WorkflowKind.PROFILER,
        source={
            "type": "postgres",
            "serviceName": service_name,
            "sourceConfig": {
                "config": {
                    "type": "Profiler",
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


def datalake_table_pattern(prefix: str) -> str:
    """Regular expression of the tables under ``prefix`` (FQN filtering)."""
    return f".*{re.escape(prefix.rstrip('/'))}/.*$"


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
    return {
        "useFqnForFiltering": True,
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
    source_config = {**_sample_data_source_config(), "includeViews": True}
    return _request(
        kind=WorkflowKind.AUTO_CLASSIFICATION,
        source=_datalake_source(source, service_name, source_config),
        service_name=service_name,
        server=server,
        line=line,
        secret_variables=(S3_ACCESS_KEY_VARIABLE, S3_SECRET_KEY_VARIABLE),
    )
