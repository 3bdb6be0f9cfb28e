"""Declarative automation: a new commit of a source, and only a new commit,
requests that source's partitions of the downstream assets."""

import datetime
from typing import Any

import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    EvaluateAutomationConditionsResult,
    evaluate_automation_conditions,
)
from dagster._core.definitions.observe import observe

from moderate.datasets import config
from moderate.datasets.assets import (
    FEATURE_TAGS,
    PREPARE_ASSET,
    PUBLISH_ASSET,
    REPOSITORY_ASSET,
    SOURCE_PARTITIONS,
    dataset_repository,
)
from moderate.definitions import defs as code_location
from moderate_tests.datasets.repos import EPC_PATH, SourceRepo, epc_csv

STOCK = "building_stock"
BDG2 = "genome_project"
START = datetime.datetime(2026, 1, 1, 0, 30, tzinfo=datetime.UTC)
KEYS = (REPOSITORY_ASSET, PREPARE_ASSET, PUBLISH_ASSET)


class Ticks:
    """Evaluates the automation conditions tick after tick on one instance."""

    def __init__(self) -> None:
        self.instance = DagsterInstance.ephemeral()
        self.cursor: Any = None
        self.minutes = 0

    def tick(self, minutes: int = 1) -> dict[str, set[str]]:
        self.minutes += minutes
        result: EvaluateAutomationConditionsResult = evaluate_automation_conditions(
            defs=code_location,
            asset_selection=AssetSelection.keys(*KEYS),
            instance=self.instance,
            cursor=self.cursor,
            evaluation_time=START + datetime.timedelta(minutes=self.minutes),
        )
        self.cursor = result.cursor
        return {
            name: set(result.get_requested_partitions(AssetKey(name))) for name in KEYS
        }

    def observe(self) -> None:
        assert observe([dataset_repository], instance=self.instance).success


@pytest.fixture
def local_sources(
    stock_repo: SourceRepo, genome_repo: SourceRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    for source, repo in ((STOCK, stock_repo), (BDG2, genome_repo)):
        local = config.SOURCE_DEFAULTS[source].model_copy(update={"repo_url": repo.url})
        monkeypatch.setitem(config.SOURCE_DEFAULTS, source, local)


def test_only_a_new_commit_requests_its_source(
    local_sources: None, stock_repo: SourceRepo
) -> None:
    ticks = Ticks()
    nothing: dict[str, set[str]] = {name: set() for name in KEYS}
    assert ticks.tick() == nothing

    ticks.observe()
    first = ticks.tick()
    assert first[PREPARE_ASSET] == first[PUBLISH_ASSET] == {STOCK, BDG2}

    ticks.observe()
    assert ticks.tick() == nothing, "an unchanged commit requested a run"

    stock_repo.write(EPC_PATH, epc_csv(20))
    stock_repo.commit("new EPC rows")
    ticks.observe()
    changed = ticks.tick()
    assert changed[PREPARE_ASSET] == changed[PUBLISH_ASSET] == {STOCK}
    assert ticks.tick() == nothing


def test_the_repositories_are_observed_hourly() -> None:
    ticks = Ticks()
    ticks.tick()
    assert ticks.tick(60)[REPOSITORY_ASSET] == set(
        SOURCE_PARTITIONS.get_partition_keys()
    )


def test_every_dataset_definition_carries_the_feature_tag() -> None:
    assets = code_location.resolve_asset_graph()
    for key in (PREPARE_ASSET, PUBLISH_ASSET, REPOSITORY_ASSET):
        node = assets.get(AssetKey(key))
        assert dict(node.tags).items() >= FEATURE_TAGS.items()
        assert node.partitions_def == SOURCE_PARTITIONS
    job = code_location.resolve_job_def("datasets_job")
    assert job.tags.items() >= FEATURE_TAGS.items()
    sensor = code_location.resolve_sensor_def("datasets_automation_sensor")
    assert sensor.tags.items() >= FEATURE_TAGS.items()
