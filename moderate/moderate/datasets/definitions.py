"""Definitions of the datasets feature."""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    Definitions,
    define_asset_job,
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
    assets=[dataset_repository, *DATASET_ASSETS],
    jobs=[datasets_job],
    sensors=[datasets_automation_sensor],
)
