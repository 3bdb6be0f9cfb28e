"""Discovery and ingestion stages of databases and prefixes (jobs and assets)."""

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from dagster import AssetKey, DynamicPartitionsDefinition, Failure, OpExecutionContext

from moderate.openmetadata.naming import entity_reference, owner_of_prefix
from moderate.openmetadata.runners import WorkflowOutcome, WorkflowRunner
from moderate.openmetadata.versions import line_keys, line_of
from moderate.openmetadata.workflows import (
    DEFAULT_DATALAKE_DATABASE,
    DEFAULT_SYSTEM_SCHEMA_EXCLUDES,
    POSTGRES_PASSWORD_VARIABLE,
    S3_ACCESS_KEY_VARIABLE,
    S3_SECRET_KEY_VARIABLE,
    TOKEN_VARIABLE,
    DatalakeSource,
    PostgresSource,
    ServerSettings,
    WorkflowKind,
    WorkflowRequest,
    workflow_request,
)
from moderate.resources import (
    OpenMetadataResource,
    PostgresResource,
    S3Resource,
    ServiceNotConfiguredError,
)
from moderate.resources.settings import EnvBackedResource
from moderate.state.resource import DEFAULT_STATE_DATABASE
from moderate.support.naming import slugify

if TYPE_CHECKING:
    import sqlalchemy as sa
    from mypy_boto3_s3 import S3Client

    from moderate.openmetadata.config import RunnerConfig

DATABASE_SERVICES = "services/databaseServices"
SOFT_DELETE_RECURSIVELY = {"recursive": "true", "hardDelete": "false"}
"""Marks a service and everything under it deleted (restorable)."""
MAPPING_KEY_HASH_LENGTH = 8
QUERY_LOG_QUERY = (
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')"
)
DEFAULT_DATABASE_EXCLUDES: tuple[str, ...] = (
    "template*",
    "postgres",
    "keycloak",
    "openmetadata",
    "dagster",
    "moderateapi",
    "*_dagster_state",
    DEFAULT_STATE_DATABASE,
)
"""Templates, the maintenance database and the platform's own (Keycloak,
OpenMetadata, Dagster, Platform API, legacy and current state stores)."""
DEFAULT_DATABASE_INCLUDES: tuple[str, ...] = ("*",)
PREFIX_DELIMITER = "/"
DEFAULT_LIST_PAGE_SIZE = 1000
DATABASES_QUERY = (
    "SELECT datname FROM pg_database "
    "WHERE datallowconn AND NOT datistemplate ORDER BY datname"
)


@dataclass(frozen=True)
class NameFilter:
    """Selects names matching an include and no exclude (``fnmatchcase``)."""

    includes: Sequence[str] = DEFAULT_DATABASE_INCLUDES
    excludes: Sequence[str] = DEFAULT_DATABASE_EXCLUDES

    def accepts(self, name: str) -> bool:
        """Whether ``name`` is selected."""
        included = any(fnmatchcase(name, pattern) for pattern in self.includes)
        excluded = any(fnmatchcase(name, pattern) for pattern in self.excludes)
        return included and not excluded

    def select(self, names: Iterable[str]) -> list[str]:
        """The selected names, sorted and without duplicates."""
        return sorted({name for name in names if self.accepts(name)})


def list_databases(engine: "sa.Engine") -> list[str]:
    """Databases on the server that accept connections, templates excluded."""
    import sqlalchemy as sa

    with engine.connect() as connection:
        return [str(row[0]) for row in connection.execute(sa.text(DATABASES_QUERY))]


def list_top_level_prefixes(
    client: "S3Client", bucket: str, page_size: int = DEFAULT_LIST_PAGE_SIZE
) -> list[str]:
    """Every top-level prefix (``folder/``) of ``bucket``, sorted, page by page."""
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket,
        Delimiter=PREFIX_DELIMITER,
        PaginationConfig={"PageSize": page_size},
    )
    return sorted(
        {entry["Prefix"] for page in pages for entry in page.get("CommonPrefixes", [])}
    )


def discover_prefixes(prefixes: Iterable[str], name_filter: NameFilter) -> list[str]:
    """The prefixes to ingest, as listed; the patterns match them without ``/``."""
    return sorted(
        {p for p in prefixes if name_filter.accepts(p.rstrip(PREFIX_DELIMITER))}
    )


def check_distinct_service_names(names: Sequence[str], derived: Sequence[str]) -> None:
    """Raises ValueError naming two distinct names with the same derived name."""
    seen: dict[str, str] = {}
    for name, result in zip(names, derived, strict=True):
        if result in seen and seen[result] != name:
            raise ValueError(
                f"{seen[result]!r} and {name!r} would share the service name {result!r}"
            )
        seen[result] = name


def mapping_key(name: str) -> str:
    """A dynamic-output key for ``name``: ``[a-z0-9_]`` plus a short hash."""
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:MAPPING_KEY_HASH_LENGTH]
    return f"{slugify(name).replace('-', '_')[:40]}_{digest}"


@dataclass(frozen=True)
class IngestionItem:
    """One database or data-lake prefix to ingest; ``statuses``: status by kind."""

    name: str
    service_name: str
    line: str
    runner: WorkflowRunner
    generate_sample_data: bool
    schema_excludes: tuple[str, ...] = DEFAULT_SYSTEM_SCHEMA_EXCLUDES
    statuses: dict[str, str] = field(default_factory=dict)

    def with_outcome(self, outcome: WorkflowOutcome) -> "IngestionItem":
        """A copy that also records ``outcome``."""
        kind = outcome.request.kind.value
        return replace(self, statuses={**self.statuses, kind: outcome.status})

    def summary(self) -> dict[str, str]:
        """Materialization metadata: the service and the workflows' statuses."""
        return {"service_name": self.service_name, **self.statuses}


@dataclass(frozen=True)
class UnitKind:
    """How the units of one source are named in OpenMetadata, Dagster and logs."""

    source: str
    resource_key: str
    unit: str
    asset_key: AssetKey
    partitions: DynamicPartitionsDefinition
    service_prefix: str
    service_name: Callable[[str], str]
    partition_key: Callable[[str], str]
    unit_of_partition: Callable[[str], str]

    def item(
        self,
        name: str,
        runner: WorkflowRunner,
        generate_sample_data: bool,
        schema_excludes: Sequence[str] = DEFAULT_SYSTEM_SCHEMA_EXCLUDES,
    ) -> IngestionItem:
        """The item of unit ``name``."""
        return IngestionItem(
            name=name,
            service_name=self.service_name(name),
            line=runner.version_line(),
            runner=runner,
            generate_sample_data=generate_sample_data,
            schema_excludes=tuple(schema_excludes),
        )


def prepare(
    context: OpExecutionContext,
    runner_config: "RunnerConfig",
    openmetadata: OpenMetadataResource,
    *resources: EnvBackedResource,
) -> WorkflowRunner:
    """The runner, once the server and its package share a release line.

    Raises:
        Failure: Naming every missing variable, or the version mismatch or problem.
    """
    missing = [
        name for r in (openmetadata, *resources) for name in r.missing_variables()
    ]
    if missing:
        raise ServiceNotConfiguredError("OpenMetadata ingestion", missing)
    runner = runner_config.build()
    try:
        line = runner.version_line()
        line_keys(line)
    except (FileNotFoundError, ValueError) as error:
        raise Failure(description=str(error)) from error
    try:
        server_version = openmetadata.server_version()
    except Exception as error:
        raise Failure(
            description="cannot read the OpenMetadata server version: "
            f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        ) from error
    if line_of(server_version) != line:
        raise Failure(
            description=(
                f"OpenMetadata server {server_version} and openmetadata-ingestion "
                f"{runner.package_version()} differ in major.minor "
                f"({line_of(server_version)} vs {line}): install the ingestion "
                "package of the server's release line"
            ),
            metadata={"server_version": server_version, "ingestion_line": line},
        )
    context.log.info(f"OpenMetadata server {server_version}, ingestion line {line}")
    return runner


def run_workflow(
    context: OpExecutionContext,
    runner: WorkflowRunner,
    request: WorkflowRequest,
    secrets: Mapping[str, str],
) -> WorkflowOutcome:
    """Runs one workflow; a failed one raises a one-line ``Failure``."""
    context.log.info(f"running {request.pipeline_fqn}")
    outcome = runner.run(context, request, secrets)
    if not outcome.succeeded:
        first_line = (outcome.error_summary().splitlines() or [""])[0]
        raise Failure(
            description=f"{request.pipeline_fqn}: {first_line}",
            metadata=outcome.metadata(),
        )
    metadata = outcome.metadata().items()
    context.add_output_metadata({f"{request.kind}.{k}": v for k, v in metadata})
    return outcome


def retire_stale_services(
    context: OpExecutionContext,
    openmetadata: OpenMetadataResource,
    units: UnitKind,
    existing: Iterable[str],
) -> list[str]:
    """Soft-deletes (recursively) the services of ``units`` not in ``existing``."""
    live = {units.service_name(name) for name in existing}
    retired = []
    for service in list(openmetadata.list_all(DATABASE_SERVICES)):
        name = str(service["name"])
        if name.startswith(units.service_prefix) and name not in live:
            path = f"{DATABASE_SERVICES}/{service['id']}"
            openmetadata.send("DELETE", path, params=SOFT_DELETE_RECURSIVELY)
            context.log.info(f"marked service {name} deleted")
            retired.append(name)
    return retired


def run_workflows(
    context: OpExecutionContext,
    item: IngestionItem,
    resource: PostgresResource | S3Resource,
    openmetadata: OpenMetadataResource,
    kinds: Iterable[WorkflowKind],
    query_lineage: bool = True,
) -> IngestionItem:
    """Runs the workflows of ``kinds`` for the unit of ``resource`` one by one."""
    secrets = {TOKEN_VARIABLE: openmetadata.required_setting("token")}
    source: PostgresSource | DatalakeSource
    if isinstance(resource, PostgresResource):
        source = PostgresSource(
            host=resource.required_setting("host"),
            port=resource.int_setting("port"),
            username=resource.required_setting("username"),
            database=item.name,
            schema_excludes=item.schema_excludes,
        )
        secrets[POSTGRES_PASSWORD_VARIABLE] = resource.required_setting("password")
    else:
        source = DatalakeSource(
            bucket=resource.data_lake_bucket,
            prefix=item.name,
            region=resource.setting("region") or "",
            endpoint_url=resource.setting("endpoint_url"),
        )
        secrets[S3_ACCESS_KEY_VARIABLE] = resource.required_setting("access_key_id")
        secrets[S3_SECRET_KEY_VARIABLE] = resource.required_setting("secret_access_key")
    server = ServerSettings(host_port=openmetadata.host_port)
    for kind in kinds:
        request = workflow_request(
            kind,
            source,
            item.service_name,
            server,
            line_keys(item.line),
            generate_sample_data=item.generate_sample_data,
            query_lineage=query_lineage,
        )
        item = item.with_outcome(run_workflow(context, item.runner, request, secrets))
    return item


def assign_prefix_owner(
    context: OpExecutionContext, openmetadata: OpenMetadataResource, item: IngestionItem
) -> int:
    """Makes the prefix's user, if OpenMetadata has it, owner of its tables; a count."""
    username = owner_of_prefix(item.name)
    user = openmetadata.get_by_name("users", username) if username else None
    if user is None:
        context.log.info(
            f"no OpenMetadata user for {item.name!r}: tables keep no owner"
        )
        return 0
    owner = entity_reference(user, "user")
    database = f"{item.service_name}.{DEFAULT_DATALAKE_DATABASE}"
    assigned = 0
    for table in openmetadata.list_all(
        "tables", {"database": database, "fields": "owners"}
    ):
        if owner["id"] not in {o.get("id") for o in table.get("owners") or []}:
            patch = [{"op": "add", "path": "/owners", "value": [owner]}]
            openmetadata.send("PATCH", f"tables/{table['id']}", body=patch)
            assigned += 1
    return assigned


def metadata_stage(
    context: OpExecutionContext,
    item: IngestionItem,
    resource: PostgresResource | S3Resource,
    openmetadata: OpenMetadataResource,
) -> IngestionItem:
    """Metadata of one unit, then what follows it for the unit's source.

    A database gets its lineage (views, and queries when ``pg_stat_statements``
    logs them); a prefix's user becomes the owner of the prefix's tables.
    """
    if isinstance(resource, PostgresResource):
        import sqlalchemy as sa

        with resource.engine(item.name).connect() as connection:
            logged = bool(connection.execute(sa.text(QUERY_LOG_QUERY)).scalar())
        if not logged:
            context.log.info(
                f"{item.name} has no pg_stat_statements: view lineage only, no "
                "query lineage"
            )
        kinds = (WorkflowKind.METADATA, WorkflowKind.LINEAGE)
        return run_workflows(context, item, resource, openmetadata, kinds, logged)
    item = run_workflows(context, item, resource, openmetadata, [WorkflowKind.METADATA])
    owned = assign_prefix_owner(context, openmetadata, item)
    context.add_output_metadata({"owner.tables_assigned": owned})
    return item


def profile_stage(
    context: OpExecutionContext,
    item: IngestionItem,
    resource: PostgresResource | S3Resource,
    openmetadata: OpenMetadataResource,
) -> IngestionItem:
    """Profiler (tables and views), and sample data when asked, of one unit."""
    kinds = [WorkflowKind.PROFILER]
    if item.generate_sample_data and line_keys(item.line).sample_data_pipeline:
        kinds.append(WorkflowKind.AUTO_CLASSIFICATION)
    return run_workflows(context, item, resource, openmetadata, kinds)
