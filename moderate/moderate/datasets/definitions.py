"""Definitions of the datasets feature."""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    Definitions,
    define_asset_job,
)
from dagster._core.definitions.external_asset import (
    create_external_asset_from_source_asset,
)

from moderate.automation import default_sensor_status
from moderate.datasets.assets import (
    DATASET_ASSETS,
    FEATURE_TAGS,
    GROUP_NAME,
    dataset_repository,
)

datasets_job = define_asset_job(
    name="datasets_job",
    selection=AssetSelection.groups(GROUP_NAME),
    description=(
        "Prepares one dataset source (a partition: building_stock or "
        "genome_project) and publishes its commit to the Platform API; an "
        "unchanged commit is skipped."
    ),
    tags=FEATURE_TAGS,
)

datasets_automation_sensor = AutomationConditionSensorDefinition(
    "datasets_automation_sensor",
    target=AssetSelection.groups(GROUP_NAME, include_sources=True),
    description=(
        "Observes the dataset repositories hourly and materialises a source's "
        "partitions when its branch has a new commit."
    ),
    tags=FEATURE_TAGS,
    run_tags=FEATURE_TAGS,
    default_status=default_sensor_status(),
)

defs = Definitions(
    # As an AssetsDefinition (what Definitions makes of it anyway), so the
    # catalogue's spec mapping, which refuses SourceAsset objects, covers it.
    assets=[
        create_external_asset_from_source_asset(dataset_repository),
        *DATASET_ASSETS,
    ],
    jobs=[datasets_job],
    sensors=[datasets_automation_sensor],
)
