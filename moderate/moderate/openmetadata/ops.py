"""Ops of the ingestion jobs: discover, run workflows per item, collect."""

from collections.abc import Iterator, Mapping, Sequence

from dagster import (
    AssetMaterialization,
    DynamicOut,
    DynamicOutput,
    Failure,
    OpExecutionContext,
    Out,
    Output,
    op,
)

from moderate.openmetadata.assets import CATALOG_KEY
from moderate.openmetadata.config import (
    DatalakeIngestionConfig,
    PostgresIngestionConfig,
)
from moderate.openmetadata.discovery import (
    discover_databases,
    discover_prefixes,
    unique_names,
)
from moderate.openmetadata.items import (
    IngestionItem,
    ItemProgress,
    ItemResult,
    mapping_key,
)
from moderate.openmetadata.naming import datalake_service_name, postgres_service_name
from moderate.openmetadata.runners import WorkflowOutcome, WorkflowRunner
from moderate.openmetadata.versions import line_keys, line_of
from moderate.openmetadata.workflows import (
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
    postgres_metadata_request,
    postgres_profiler_request,
    postgres_sample_data_request,
)
from moderate.resources import OpenMetadataResource, PostgresResource, S3Resource
from moderate.resources.settings import EnvBackedResource, ServiceNotConfiguredError

OPS_TAGS = {"moderate/feature": "openmetadata"}
INGESTION_SERVICE = "OpenMetadata ingestion"


def require_configured(*resources: EnvBackedResource) -> None:
    """Fails fast naming every missing variable of every resource.

    Raises:
        ServiceNotConfiguredError: If any resource lacks a setting.
    """
    missing = [name for resource in resources for name in resource.missing_variables()]
    if missing:
        raise ServiceNotConfiguredError(INGESTION_SERVICE, missing)


def check_server_line(
    openmetadata: OpenMetadataResource, runner: WorkflowRunner
) -> tuple[str, str]:
    """Compares the server's release line with the ingestion package's.

    Returns:
        The server version and the ingestion line.

    Raises:
        Failure: Naming both versions when their major.minor differ.
    """
    line = runner.version_line()
    line_keys(line)
    server_version = openmetadata.server_version()
    if line_of(server_version) != line:
        raise Failure(
            description=(
                f"OpenMetadata server {server_version} and openmetadata-ingestion "
                f"{runner.package_version()} differ in major.minor "
                f"({line_of(server_version)} vs {line}): install the ingestion "
                "package of the server's release line"
            )
        )
    return server_version, line


def _server(openmetadata: OpenMetadataResource) -> ServerSettings:
    return ServerSettings(host_port=openmetadata.host_port)


def _run(
    context: OpExecutionContext,
    item: IngestionItem,
    request: WorkflowRequest,
    secrets: Mapping[str, str],
) -> WorkflowOutcome:
    context.log.info(f"running {request.pipeline_fqn}")
    outcome = item.runner.run(context, request, secrets)
    if not outcome.succeeded:
        raise Failure(
            description=f"{request.pipeline_fqn}: {outcome.error_summary()}",
            metadata=outcome.metadata(),
        )
    context.add_output_metadata(
        {
            f"{request.kind.value}.{key}": value
            for key, value in outcome.metadata().items()
        }
    )
    return outcome


def _emit(
    context: OpExecutionContext,
    items: Sequence[IngestionItem],
    kind: str,
) -> Iterator[DynamicOutput[IngestionItem]]:
    context.log.info(f"{len(items)} {kind} to ingest: {[i.name for i in items]}")
    for item in items:
        yield DynamicOutput(
            item,
            mapping_key=mapping_key(item.service_name),
            metadata={"name": item.name, "service_name": item.service_name},
        )


@op(out=DynamicOut(IngestionItem), tags=OPS_TAGS)
def discover_postgres_databases(
    context: OpExecutionContext,
    config: PostgresIngestionConfig,
    postgres: PostgresResource,
    openmetadata: OpenMetadataResource,
) -> Iterator[DynamicOutput[IngestionItem]]:
    """Lists the server's databases and emits one output per selected database."""
    require_configured(openmetadata, postgres)
    runner = config.runner.build()
    server_version, line = check_server_line(openmetadata, runner)
    context.log.info(f"OpenMetadata server {server_version}, ingestion line {line}")
    databases = discover_databases(postgres.engine(), config.name_filter())
    names = [postgres_service_name(database) for database in databases]
    unique_names(databases, names)
    items = [
        IngestionItem(
            name=database,
            service_name=service_name,
            line=line,
            runner=runner,
            generate_sample_data=config.generate_sample_data,
        )
        for database, service_name in zip(databases, names, strict=True)
    ]
    yield from _emit(context, items, "databases")


def _postgres_source(postgres: PostgresResource, database: str) -> PostgresSource:
    return PostgresSource(
        host=postgres.required_setting("host"),
        port=postgres.int_setting("port"),
        username=postgres.required_setting("username"),
        database=database,
    )


@op(tags=OPS_TAGS)
def run_postgres_metadata(
    context: OpExecutionContext,
    item: IngestionItem,
    postgres: PostgresResource,
    openmetadata: OpenMetadataResource,
) -> ItemProgress:
    """Runs the metadata workflow of one database."""
    request = postgres_metadata_request(
        _postgres_source(postgres, item.name),
        item.service_name,
        _server(openmetadata),
        line_keys(item.line),
    )
    secrets = {
        TOKEN_VARIABLE: openmetadata.required_setting("token"),
        POSTGRES_PASSWORD_VARIABLE: postgres.required_setting("password"),
    }
    outcome = _run(context, item, request, secrets)
    result = ItemResult(name=item.name, service_name=item.service_name)
    return ItemProgress(item=item, result=result.with_outcome(outcome))


@op(tags=OPS_TAGS)
def run_postgres_profiler(
    context: OpExecutionContext,
    progress: ItemProgress,
    openmetadata: OpenMetadataResource,
) -> ItemResult:
    """Runs the profiler (and, when asked, the sample-data) workflow of one database."""
    item = progress.item
    line = line_keys(item.line)
    server = _server(openmetadata)
    secrets = {TOKEN_VARIABLE: openmetadata.required_setting("token")}
    requests = [
        postgres_profiler_request(
            item.service_name,
            server,
            line,
            generate_sample_data=item.generate_sample_data,
        )
    ]
    if item.generate_sample_data and line.sample_data_pipeline:
        requests.append(postgres_sample_data_request(item.service_name, server, line))
    result = progress.result
    for request in requests:
        result = result.with_outcome(_run(context, item, request, secrets))
    return result


@op(out=DynamicOut(IngestionItem), tags=OPS_TAGS)
def discover_datalake_prefixes(
    context: OpExecutionContext,
    config: DatalakeIngestionConfig,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
) -> Iterator[DynamicOutput[IngestionItem]]:
    """Lists the bucket's top-level prefixes and emits one output per prefix."""
    require_configured(openmetadata, s3)
    bucket = s3.data_lake_bucket
    runner = config.runner.build()
    server_version, line = check_server_line(openmetadata, runner)
    context.log.info(f"OpenMetadata server {server_version}, ingestion line {line}")
    prefixes = discover_prefixes(
        s3.client(), bucket, config.name_filter(), config.list_page_size
    )
    names = [datalake_service_name(prefix) for prefix in prefixes]
    unique_names(prefixes, names)
    items = [
        IngestionItem(
            name=prefix,
            service_name=service_name,
            line=line,
            runner=runner,
            generate_sample_data=config.generate_sample_data,
            bucket=bucket,
        )
        for prefix, service_name in zip(prefixes, names, strict=True)
    ]
    yield from _emit(context, items, "prefixes")


def _datalake_source(s3: S3Resource, item: IngestionItem) -> DatalakeSource:
    return DatalakeSource(
        bucket=item.bucket or s3.data_lake_bucket,
        prefix=item.name,
        region=s3.setting("region") or "",
        endpoint_url=s3.setting("endpoint_url"),
    )


def _datalake_secrets(
    s3: S3Resource, openmetadata: OpenMetadataResource
) -> dict[str, str]:
    return {
        TOKEN_VARIABLE: openmetadata.required_setting("token"),
        S3_ACCESS_KEY_VARIABLE: s3.required_setting("access_key_id"),
        S3_SECRET_KEY_VARIABLE: s3.required_setting("secret_access_key"),
    }


@op(tags=OPS_TAGS)
def run_datalake_metadata(
    context: OpExecutionContext,
    item: IngestionItem,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
) -> ItemProgress:
    """Runs the metadata workflow of one prefix."""
    request = datalake_metadata_request(
        _datalake_source(s3, item),
        item.service_name,
        _server(openmetadata),
        line_keys(item.line),
    )
    outcome = _run(context, item, request, _datalake_secrets(s3, openmetadata))
    result = ItemResult(name=item.name, service_name=item.service_name)
    return ItemProgress(item=item, result=result.with_outcome(outcome))


@op(tags=OPS_TAGS)
def run_datalake_profiler(
    context: OpExecutionContext,
    progress: ItemProgress,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
) -> ItemResult:
    """Runs the profiler (and, when asked, the sample-data) workflow of one prefix."""
    item = progress.item
    line = line_keys(item.line)
    server = _server(openmetadata)
    source = _datalake_source(s3, item)
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
    secrets = _datalake_secrets(s3, openmetadata)
    result = progress.result
    for request in requests:
        result = result.with_outcome(_run(context, item, request, secrets))
    return result


def _collect(
    context: OpExecutionContext, results: list[ItemResult], source: str
) -> Iterator[AssetMaterialization | Output[list[ItemResult]]]:
    ordered = sorted(results, key=lambda result: result.name)
    for result in ordered:
        context.log.info(f"{result.name}: {result.statuses}")
    metadata = {
        "source": source,
        "items": len(ordered),
        "services": [result.service_name for result in ordered],
        "partial_successes": sum(
            "partial_success" in result.statuses.values() for result in ordered
        ),
    }
    yield AssetMaterialization(
        asset_key=CATALOG_KEY,
        description=f"{source} ingestion",
        metadata=metadata,
    )
    yield Output(ordered, metadata=metadata)


@op(out=Out(list[ItemResult]), tags=OPS_TAGS)
def collect_postgres_ingestion(
    context: OpExecutionContext, results: list[ItemResult]
) -> Iterator[AssetMaterialization | Output[list[ItemResult]]]:
    """Gathers the per-database results; reports the catalogue asset."""
    yield from _collect(context, results, "postgres")


@op(out=Out(list[ItemResult]), tags=OPS_TAGS)
def collect_datalake_ingestion(
    context: OpExecutionContext, results: list[ItemResult]
) -> Iterator[AssetMaterialization | Output[list[ItemResult]]]:
    """Gathers the per-prefix results; reports the catalogue asset."""
    yield from _collect(context, results, "datalake")
