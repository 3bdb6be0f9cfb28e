"""The dataset assets, partitioned by source: observe, prepare, publish.

A new commit of a source's branch (observed hourly) makes ``prepared_datasets``
and then ``platform_asset_datasets`` materialise; only the manifest's key
travels between them, through the state store: no IO manager, no local disk.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    DataVersion,
    DataVersionsByPartition,
    Failure,
    MaterializeResult,
    StaticPartitionsDefinition,
    asset,
    observable_source_asset,
)

from moderate.datasets.config import (
    BUILDING_STOCK_SOURCE,
    GENOME_PROJECT_SOURCE,
    PLATFORM_ASSET_NAMES,
    SOURCE_DEFAULTS,
    PrepareConfig,
    PublishConfig,
)
from moderate.datasets.git import GitFetchError, GitSourceRefusedError, remote_commit
from moderate.datasets.naming import InvalidGlobError, redact_url
from moderate.datasets.prepare import SOURCE_NAMESPACE, SourceState, prepare_source
from moderate.datasets.report import check_results, check_specs, prepare_metadata
from moderate.datasets.staging import (
    StagingArea,
    StagingIntegrityError,
    delete_older_commits,
)
from moderate.resources.platform_api import PlatformApiResource
from moderate.resources.s3 import S3Resource
from moderate.state import StateStoreResource
from moderate.support.naming import one_line

GROUP_NAME = "datasets"
FEATURE_TAGS = {"moderate/feature": "datasets"}
POOL = "datasets"
FAILURE_CHARS = 600
OBSERVE_CRON = "0 * * * *"
OBSERVE_TIMEOUT_S = 120
REPOSITORY_ASSET = "dataset_repository"
PREPARE_ASSET = "prepared_datasets"
PUBLISH_ASSET = "platform_asset_datasets"
SOURCE_DESCRIPTIONS = {
    BUILDING_STOCK_SOURCE: "MODERATE building-stock analysis datasets (CC BY 4.0)",
    GENOME_PROJECT_SOURCE: "Building Data Genome Project 2 datasets (CC BY-SA 4.0)",
}
SOURCE_PARTITIONS = StaticPartitionsDefinition(list(SOURCE_DESCRIPTIONS))


@observable_source_asset(
    name=REPOSITORY_ASSET,
    group_name=GROUP_NAME,
    partitions_def=SOURCE_PARTITIONS,
    automation_condition=AutomationCondition.cron_tick_passed(OBSERVE_CRON),
    description=(
        "The git repository of each dataset source; its data version is the "
        "commit the source's default branch points at (git ls-remote)."
    ),
)
def dataset_repository(context: AssetExecutionContext) -> DataVersionsByPartition:
    """Reads the current commit of every source's default ref."""
    versions: dict[str, str] = {}
    errors: dict[str, str] = {}
    for source, settings in SOURCE_DEFAULTS.items():
        try:
            versions[source] = remote_commit(
                settings.repo_url, settings.ref, OBSERVE_TIMEOUT_S
            )
        except (GitSourceRefusedError, GitFetchError) as error:
            errors[source] = one_line(str(error), FAILURE_CHARS)
            context.log.warning("%s not observed: %s", source, errors[source])
    if not versions:
        raise Failure(
            description="no dataset repository could be read: "
            + "; ".join(f"{source}: {text}" for source, text in errors.items()),
            metadata=errors,
        )
    return DataVersionsByPartition(versions)


@asset(
    name=PREPARE_ASSET,
    group_name=GROUP_NAME,
    partitions_def=SOURCE_PARTITIONS,
    deps=[dataset_repository],
    description=(
        "Every dataset of a source (CSV files and every sheet of .xlsx "
        "workbooks; BDG2's Git LFS content fetched for the selected files only), "
        "converted to Parquet and staged with a manifest in the job-outputs bucket."
    ),
    check_specs=check_specs(AssetKey(PREPARE_ASSET)),
    kinds={"git", "parquet", "s3"},
    pool=POOL,
    automation_condition=(
        AutomationCondition.any_deps_match(AutomationCondition.data_version_changed())
        & ~AutomationCondition.in_progress()
    ),
)
def prepared_datasets(
    context: AssetExecutionContext,
    config: PrepareConfig,
    s3: S3Resource,
    state_store: StateStoreResource,
) -> MaterializeResult:
    """Prepares the partition's source."""
    settings = config.resolve(context.partition_key)
    bucket = s3.job_outputs_bucket
    try:
        prepared = prepare_source(
            context.partition_key,
            settings,
            s3.client(),
            bucket,
            state_store.store(),
            context.log,
        )
    except (GitSourceRefusedError, GitFetchError, InvalidGlobError) as error:
        raise Failure(
            description=one_line(str(error), FAILURE_CHARS),
            metadata={"repo_url": redact_url(settings.repo_url), "ref": settings.ref},
        ) from None
    manifest = prepared.manifest
    return MaterializeResult(
        metadata=prepare_metadata(
            manifest, bucket, prepared.manifest_key, prepared.skipped
        ),
        check_results=check_results(AssetKey(PREPARE_ASSET), manifest),
        data_version=DataVersion(f"{manifest.commit_sha}:{manifest.fingerprint}"),
    )


@asset(
    name=PUBLISH_ASSET,
    group_name=GROUP_NAME,
    partitions_def=SOURCE_PARTITIONS,
    deps=[prepared_datasets],
    description=(
        "Each source's datasets on the Platform API: one ownerless public asset "
        "per source, each dataset as its original file and as Parquet."
    ),
    kinds={"parquet", "s3"},
    pool=POOL,
    automation_condition=AutomationCondition.eager(),
)
def platform_asset_datasets(
    context: AssetExecutionContext,
    config: PublishConfig,
    platform_api: PlatformApiResource,
    s3: S3Resource,
    state_store: StateStoreResource,
) -> MaterializeResult:
    """Publishes the latest prepared commit of the partition's source."""
    from botocore.exceptions import ClientError

    from moderate.datasets import publish  # requests_toolbelt: on use

    source = context.partition_key
    store = state_store.store()
    known = SourceState.read(store, source)
    if known is None:
        raise Failure(
            description=f"nothing prepared for {source}: materialise "
            f"{PREPARE_ASSET} for this partition first",
            metadata={"source": source},
        )
    s3_client = s3.client()
    area = StagingArea(s3_client, known.bucket, known.manifest_key.rsplit("/", 1)[0])
    manifest_url = f"s3://{known.bucket}/{known.manifest_key}"
    try:
        manifest = area.load_manifest()
    except ClientError as error:
        raise Failure(
            description=f"staged manifest {manifest_url} cannot be read: "
            f"materialise {PREPARE_ASSET} for {source} again",
            metadata={
                "manifest": manifest_url,
                "error": one_line(str(error), FAILURE_CHARS),
            },
        ) from None
    client = platform_api.client()
    platform_asset = publish.ensure_platform_asset(
        client,
        config.platform_asset_name or PLATFORM_ASSET_NAMES[source],
        f"{SOURCE_DESCRIPTIONS[source]} from {manifest.repo_url}",
        platform_api.setting("base_url"),
        config.adopt_legacy_asset,
        context.log,
    )
    try:
        metadata = publish.publish(
            manifest,
            platform_asset,
            client,
            area,
            config.max_objects_per_asset,
            context.log,
        )
    except (
        publish.ObjectLimitError,
        publish.UploadIntegrityError,
        StagingIntegrityError,
    ) as error:
        raise Failure(
            description=one_line(str(error), FAILURE_CHARS),
            metadata={"source": source, "platform_asset_id": platform_asset.id},
        ) from None
    if SourceState.read(store, source) == known:
        store.mark_done(SOURCE_NAMESPACE, source, known.model_dump())
    removed = delete_older_commits(area, manifest.prepared_at)
    if removed:
        context.log.info("removed %d staged files of older commits", removed)
    return MaterializeResult(metadata=metadata)


DATASET_ASSETS: list[AssetsDefinition] = [prepared_datasets, platform_asset_datasets]
