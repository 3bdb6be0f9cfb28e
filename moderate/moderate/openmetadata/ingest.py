"""Ingestion of one unit (a database or a prefix), shared by the jobs and assets.

The two ingestion jobs (discover, then every unit) and the partitioned assets
(one unit per partition, for backfills of selected partitions) run the same
stages defined here.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dagster import Failure, OpExecutionContext

from moderate.openmetadata.client import CatalogClient, entity_reference
from moderate.openmetadata.discovery import (
    NameFilter,
    check_distinct_service_names,
    discover_databases,
    discover_prefixes,
    list_databases,
    list_top_level_prefixes,
)
from moderate.openmetadata.items import IngestionItem, ItemResult
from moderate.openmetadata.naming import (
    DATALAKE_SERVICE_PREFIX,
    POSTGRES_SERVICE_PREFIX,
    datalake_service_name,
    owner_of_prefix,
    postgres_service_name,
)
from moderate.openmetadata.runners import WorkflowOutcome, WorkflowRunner
from moderate.openmetadata.versions import line_keys, line_of
from moderate.openmetadata.workflows import (
    DEFAULT_DATALAKE_DATABASE,
    POSTGRES_PASSWORD_VARIABLE,
    S3_ACCESS_KEY_VARIABLE,
    S3_SECRET_KEY_VARIABLE,
    TOKEN_VARIABLE,
    DatalakeSource,
    PostgresSource,
    ServerSettings,
    WorkflowRequest,
    datalake_metadata_request,
    datalake_profiler_request,
    datalake_sample_data_request,
    postgres_lineage_request,
    postgres_metadata_request,
    postgres_profiler_request,
    postgres_sample_data_request,
)
from moderate.resources import OpenMetadataResource, PostgresResource, S3Resource
from moderate.resources.settings import EnvBackedResource

INGESTION_SERVICE = "OpenMetadata ingestion"
DATABASE_SERVICES = "services/databaseServices"
TABLES = "tables"
USERS = "users"


def require_configured(*resources: EnvBackedResource) -> None:
    """Fails fast naming every missing variable of every resource.

    Raises:
        Failure: One line naming the missing variables.
    """
    missing = [name for resource in resources for name in resource.missing_variables()]
    if missing:
        raise Failure(
            description=f"{INGESTION_SERVICE} is not configured: set "
            f"{', '.join(missing)}",
            metadata={"missing_variables": missing},
        )


def check_server_line(
    openmetadata: OpenMetadataResource, runner: WorkflowRunner
) -> tuple[str, str]:
    """Compares the server's release line with the ingestion package's.

    Returns:
        The server version and the ingestion line.

    Raises:
        Failure: When the package is missing or unsupported, the server cannot
            be asked, or their major.minor differ (naming both versions).
    """
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
    return server_version, line


def _server(openmetadata: OpenMetadataResource) -> ServerSettings:
    return ServerSettings(host_port=openmetadata.host_port)


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
    context.add_output_metadata(
        {
            f"{request.kind.value}.{key}": value
            for key, value in outcome.metadata().items()
        }
    )
    return outcome


def _run_all(
    context: OpExecutionContext,
    item: IngestionItem,
    requests: Iterable[WorkflowRequest],
    secrets: Mapping[str, str],
    result: ItemResult,
) -> ItemResult:
    for request in requests:
        result = result.with_outcome(
            run_workflow(context, item.runner, request, secrets)
        )
    return result


@dataclass(frozen=True)
class Discovery:
    """What one discovery found.

    Attributes:
        selected: The units to ingest now (after the allow/deny rules).
        existing: Every unit the source still has (whatever the rules).
    """

    selected: tuple[str, ...]
    existing: tuple[str, ...]


def discover_postgres(postgres: PostgresResource, name_filter: NameFilter) -> Discovery:
    """The server's databases: all of them and the selected ones."""
    engine = postgres.engine()
    existing = tuple(list_databases(engine))
    selected = tuple(discover_databases(engine, name_filter, existing))
    _check_unique(selected, [postgres_service_name(name) for name in selected])
    return Discovery(selected=selected, existing=existing)


def discover_datalake(
    s3: S3Resource, name_filter: NameFilter, page_size: int
) -> Discovery:
    """The bucket's top-level prefixes: all of them and the selected ones."""
    existing = tuple(
        list_top_level_prefixes(s3.client(), s3.data_lake_bucket, page_size)
    )
    selected = tuple(discover_prefixes(existing, name_filter))
    _check_unique(selected, [datalake_service_name(name) for name in selected])
    return Discovery(selected=selected, existing=existing)


def _check_unique(names: Sequence[str], derived: Sequence[str]) -> None:
    try:
        check_distinct_service_names(names, derived)
    except ValueError as error:
        raise Failure(description=str(error)) from error


def stale_services(
    client: CatalogClient, service_prefix: str, live_names: Iterable[str]
) -> list[dict]:
    """This feature's services (by name prefix) whose unit no longer exists."""
    live = set(live_names)
    return [
        service
        for service in client.list_all(DATABASE_SERVICES)
        if str(service["name"]).startswith(service_prefix)
        and service["name"] not in live
    ]


def retire_stale_services(
    context: OpExecutionContext,
    client: CatalogClient,
    service_prefix: str,
    live_names: Iterable[str],
) -> list[str]:
    """Soft-deletes (recursively) the services of units that no longer exist.

    Returns:
        Names of the services marked deleted.
    """
    retired = []
    for service in stale_services(client, service_prefix, live_names):
        client.soft_delete(DATABASE_SERVICES, str(service["id"]))
        context.log.info(f"marked service {service['name']} deleted")
        retired.append(str(service["name"]))
    return retired


def retire_stale_postgres(
    context: OpExecutionContext, client: CatalogClient, discovery: Discovery
) -> list[str]:
    """Marks the services of dropped databases deleted."""
    live = [postgres_service_name(name) for name in discovery.existing]
    return retire_stale_services(context, client, POSTGRES_SERVICE_PREFIX, live)


def retire_stale_datalake(
    context: OpExecutionContext, client: CatalogClient, discovery: Discovery
) -> list[str]:
    """Marks the services of removed prefixes deleted."""
    live = [datalake_service_name(name) for name in discovery.existing]
    return retire_stale_services(context, client, DATALAKE_SERVICE_PREFIX, live)


def postgres_source(postgres: PostgresResource, database: str) -> PostgresSource:
    """Where the workflow process reaches ``database``."""
    return PostgresSource(
        host=postgres.required_setting("host"),
        port=postgres.int_setting("port"),
        username=postgres.required_setting("username"),
        database=database,
    )


QUERY_LOG_QUERY = (
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')"
)


def has_query_log(postgres: PostgresResource, database: str) -> bool:
    """Whether ``database`` has the ``pg_stat_statements`` extension (query lineage)."""
    import sqlalchemy as sa

    with postgres.engine(database).connect() as connection:
        return bool(connection.execute(sa.text(QUERY_LOG_QUERY)).scalar())


def postgres_metadata_stage(
    context: OpExecutionContext,
    item: IngestionItem,
    postgres: PostgresResource,
    openmetadata: OpenMetadataResource,
) -> ItemResult:
    """Metadata, then database lineage (views and queries), of one database."""
    source = postgres_source(postgres, item.name)
    server = _server(openmetadata)
    line = line_keys(item.line)
    secrets = {
        TOKEN_VARIABLE: openmetadata.required_setting("token"),
        POSTGRES_PASSWORD_VARIABLE: postgres.required_setting("password"),
    }
    query_lineage = has_query_log(postgres, item.name)
    if not query_lineage:
        context.log.info(
            f"{item.name} has no pg_stat_statements: view lineage only, no query "
            "lineage"
        )
    requests = [
        postgres_metadata_request(
            source, item.service_name, server, line, item.schema_excludes
        ),
        postgres_lineage_request(
            source,
            item.service_name,
            server,
            line,
            item.schema_excludes,
            query_lineage=query_lineage,
        ),
    ]
    result = ItemResult(name=item.name, service_name=item.service_name)
    return _run_all(context, item, requests, secrets, result)


def postgres_profile_stage(
    context: OpExecutionContext,
    item: IngestionItem,
    openmetadata: OpenMetadataResource,
    result: ItemResult,
) -> ItemResult:
    """Profiler (tables and views), and sample data when asked, of one database."""
    line = line_keys(item.line)
    server = _server(openmetadata)
    requests = [
        postgres_profiler_request(
            item.service_name,
            server,
            line,
            generate_sample_data=item.generate_sample_data,
            schema_excludes=item.schema_excludes,
        )
    ]
    if item.generate_sample_data and line.sample_data_pipeline:
        requests.append(postgres_sample_data_request(item.service_name, server, line))
    secrets = {TOKEN_VARIABLE: openmetadata.required_setting("token")}
    return _run_all(context, item, requests, secrets, result)


def datalake_source(s3: S3Resource, item: IngestionItem) -> DatalakeSource:
    """The bucket and prefix of one data-lake unit."""
    return DatalakeSource(
        bucket=item.bucket or s3.data_lake_bucket,
        prefix=item.name,
        region=s3.setting("region") or "",
        endpoint_url=s3.setting("endpoint_url"),
    )


def datalake_secrets(s3: S3Resource, openmetadata: OpenMetadataResource) -> dict:
    """The secrets the data-lake workflows read from their environment."""
    return {
        TOKEN_VARIABLE: openmetadata.required_setting("token"),
        S3_ACCESS_KEY_VARIABLE: s3.required_setting("access_key_id"),
        S3_SECRET_KEY_VARIABLE: s3.required_setting("secret_access_key"),
    }


def assign_prefix_owner(
    context: OpExecutionContext, client: CatalogClient, item: IngestionItem
) -> int:
    """Makes the prefix's user the owner of its tables, when OpenMetadata has it.

    Returns:
        How many tables got the owner (0 when the user is unknown).
    """
    username = owner_of_prefix(item.name)
    user = client.get_by_name(USERS, username) if username else None
    if user is None:
        context.log.info(
            f"no OpenMetadata user for {item.name!r}: tables keep no owner"
        )
        return 0
    owner = entity_reference(user, "user")
    assigned = 0
    tables = client.list_all(
        TABLES,
        {
            "database": f"{item.service_name}.{DEFAULT_DATALAKE_DATABASE}",
            "fields": "owners",
        },
    )
    for table in tables:
        owners = table.get("owners") or []
        if any(existing.get("id") == owner["id"] for existing in owners):
            continue
        client.patch(
            TABLES,
            str(table["id"]),
            [{"op": "add", "path": "/owners", "value": [owner]}],
        )
        assigned += 1
    return assigned


def datalake_metadata_stage(
    context: OpExecutionContext,
    item: IngestionItem,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
) -> ItemResult:
    """Metadata of one prefix, then its user as owner of its tables."""
    request = datalake_metadata_request(
        datalake_source(s3, item),
        item.service_name,
        _server(openmetadata),
        line_keys(item.line),
    )
    result = _run_all(
        context,
        item,
        [request],
        datalake_secrets(s3, openmetadata),
        ItemResult(name=item.name, service_name=item.service_name),
    )
    owned = assign_prefix_owner(
        context, CatalogClient.from_resource(openmetadata), item
    )
    context.add_output_metadata({"owner.tables_assigned": owned})
    return result


def datalake_profile_stage(
    context: OpExecutionContext,
    item: IngestionItem,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
    result: ItemResult,
) -> ItemResult:
    """Profiler, and sample data when asked, of one prefix."""
    line = line_keys(item.line)
    server = _server(openmetadata)
    source = datalake_source(s3, item)
    requests = [
        datalake_profiler_request(
            source,
            item.service_name,
            server,
            line,
            generate_sample_data=item.generate_sample_data,
        )
    ]
    if item.generate_sample_data and line.sample_data_pipeline:
        requests.append(
            datalake_sample_data_request(source, item.service_name, server, line)
        )
    return _run_all(context, item, requests, datalake_secrets(s3, openmetadata), result)
