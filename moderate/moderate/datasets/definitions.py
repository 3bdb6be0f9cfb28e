"""Definitions of the datasets feature."""

from dagster import AssetSelection, Definitions, define_asset_job

from moderate.datasets.assets import DATASET_ASSETS, GROUP_NAME

datasets_job = define_asset_job(
    name="datasets_job",
    selection=AssetSelection.groups(GROUP_NAME),
    description=(
        "Prepares both dataset sources (building stock, BDG2) and publishes every "
        "new commit to the Platform API; unchanged commits are skipped."
    ),
    tags={"feature": "datasets"},
)

defs = Definitions(assets=DATASET_ASSETS, jobs=[datasets_job])
