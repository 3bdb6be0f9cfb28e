"""Every asset carries its owner, feature tag, docs link and code references; one
tag scheme on jobs and requested runs; the asset graph connects the features."""

import importlib
import sys
from collections.abc import Mapping

import pytest
from dagster import AssetKey, AutomationConditionSensorDefinition, Definitions
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

from moderate import catalog

REPOSITORY_URL = "https://github.com/example/moderate"
REPOSITORY_REF = "0123456789abcdef0123456789abcdef01234567"


def _load_definitions() -> Definitions:
    sys.modules.pop("moderate.definitions", None)
    return importlib.import_module("moderate.definitions").defs


def test_every_asset_is_described():
    specs = list(_load_definitions().resolve_all_asset_specs())
    assert specs
    for spec in specs:
        name = spec.key.to_user_string()
        assert spec.owners == [catalog.OWNER], name
        assert spec.tags[catalog.FEATURE_TAG] == spec.group_name, name
        link = spec.metadata[catalog.DOCS_METADATA_KEY]
        assert link.value.endswith(catalog.DOCS_PAGES[spec.group_name]), name


def test_local_docs_links_point_at_existing_pages():
    for feature in catalog.DOCS_PAGES:
        link = catalog.docs_link(feature, repository=None)
        assert link is not None
        assert (catalog.LOCAL_DOCS_DIR / catalog.DOCS_PAGES[feature]).is_file()
    assert catalog.docs_link("no-such-feature", repository=None) is None


def test_code_references_link_to_the_named_commit(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(catalog.GIT_URL_VARIABLE, REPOSITORY_URL)
    monkeypatch.setenv(catalog.GIT_REF_VARIABLE, REPOSITORY_REF)
    try:
        specs = list(_load_definitions().resolve_all_asset_specs())
    finally:
        monkeypatch.delenv(catalog.GIT_URL_VARIABLE)
        monkeypatch.delenv(catalog.GIT_REF_VARIABLE)
        _load_definitions()
    urls = [
        reference.url
        for spec in specs
        if "dagster/code_references" in spec.metadata
        for reference in spec.metadata["dagster/code_references"].code_references
    ]
    assert urls
    prefix = f"{REPOSITORY_URL}/tree/{REPOSITORY_REF}/moderate/moderate/"
    assert all(url.startswith(prefix) for url in urls), urls
    docs = [spec.metadata[catalog.DOCS_METADATA_KEY].value for spec in specs]
    assert all(
        url.startswith(f"{REPOSITORY_URL}/blob/{REPOSITORY_REF}/docs/") for url in docs
    )


def test_half_a_repository_is_no_repository(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(catalog.GIT_URL_VARIABLE, REPOSITORY_URL)
    assert catalog.configured_repository() is None


FEATURES = {"datasets", "doctor", "matrix_profile", "openmetadata", "trust"}
LEGACY_TAG = "feature"
IMPLICIT_ASSET_JOB = "__ASSET_JOB"
ISOLATED_GROUPS = {"trust"}
"""Groups allowed to stand apart in the asset graph: the trust feature's only
asset counts Keycloak users, which no other feature reads or produces."""


def _assert_feature_tag(tags: Mapping[str, str], name: str) -> None:
    assert tags.get(catalog.FEATURE_TAG) in FEATURES, (name, dict(tags))
    assert LEGACY_TAG not in tags, (name, dict(tags))


def test_every_job_asset_and_requested_run_carries_the_feature_tag():
    defs = _load_definitions()
    jobs = {
        job.name: job
        for job in defs.resolve_all_job_defs()
        if job.name != IMPLICIT_ASSET_JOB
    }
    assert jobs
    for job in jobs.values():
        _assert_feature_tag(job.tags, job.name)
    for spec in defs.resolve_all_asset_specs():
        _assert_feature_tag(spec.tags, spec.key.to_user_string())
    sensors = list(defs.sensors or [])
    assert sensors
    for sensor in sensors:
        if isinstance(sensor, AutomationConditionSensorDefinition):
            # Its runs materialise assets through the implicit job.
            _assert_feature_tag(sensor.run_tags, sensor.name)
        for target in sensor.targets:
            _assert_feature_tag(jobs[target.job_name].tags, sensor.name)
    for schedule in defs.schedules or []:
        _assert_feature_tag(jobs[schedule.job_name].tags, schedule.name)


def _components(graph: BaseAssetGraph) -> list[set[AssetKey]]:
    unseen = set(graph.get_all_asset_keys())
    components = []
    while unseen:
        frontier = [unseen.pop()]
        component = set(frontier)
        while frontier:
            node = graph.get(frontier.pop())
            for neighbour in node.parent_keys | node.child_keys:
                if neighbour in unseen:
                    unseen.remove(neighbour)
                    component.add(neighbour)
                    frontier.append(neighbour)
        components.append(component)
    return components


def test_the_asset_graph_connects_the_features():
    graph = _load_definitions().resolve_asset_graph()
    for downstream, upstreams in catalog.CROSS_FEATURE_DEPS.items():
        assert graph.has(downstream), downstream
        assert set(upstreams) <= graph.get(downstream).parent_keys, downstream
    components = _components(graph)
    groups = [{graph.get(key).group_name for key in c} for c in components]
    connected = [g for g in groups if not g <= ISOLATED_GROUPS]
    assert len(connected) == 1, groups
    assert connected[0] == {"datasets", "matrix_profile", "openmetadata"}, groups


def test_the_catalogue_keeps_its_freshness_expectation():
    specs = {spec.key: spec for spec in _load_definitions().resolve_all_asset_specs()}
    policy = specs[catalog.CATALOG_KEY].freshness_policy
    assert policy is not None
    assert policy.warn_window < policy.fail_window
