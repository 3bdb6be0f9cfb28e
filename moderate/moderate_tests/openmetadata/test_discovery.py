import uuid
from collections.abc import Iterator

import pytest

from moderate.openmetadata.ingest import (
    DEFAULT_DATABASE_EXCLUDES,
    NameFilter,
    check_distinct_service_names,
    discover_prefixes,
    list_databases,
    list_top_level_prefixes,
)
from moderate.state.resource import DEFAULT_STATE_DATABASE
from moderate_tests.support.postgres import drop_database


@pytest.fixture
def server_databases(postgres) -> Iterator[str]:
    """Several databases with a common unique prefix, dropped afterwards."""
    prefix = f"moderate_test_om_{uuid.uuid4().hex[:8]}"
    names = [
        f"{prefix}_sales",
        f"{prefix}_sensors",
        f"{prefix}_dagster_state",
        f"{prefix}_scratch",
    ]
    for name in names:
        postgres.ensure_database(name)
    try:
        yield prefix
    finally:
        postgres.dispose()
        for name in names:
            drop_database(postgres, name)


def test_default_rules_deny_internal_and_platform_databases():
    rules = NameFilter()
    for internal in (
        "template0",
        "template1",
        "postgres",
        "keycloak",
        "openmetadata",
        "dagster",
        "moderateapi",
        "legacy_dagster_state",
        DEFAULT_STATE_DATABASE,
    ):
        assert not rules.accepts(internal), internal
    assert rules.accepts("building_stock_analysis")


def test_excludes_win_over_includes():
    rules = NameFilter(includes=("a*",), excludes=("ab*",))
    assert rules.select(["abc", "acd", "b", "acd"]) == ["acd"]


def test_discovery_against_real_server_applies_default_deny_list(
    postgres, server_databases
):
    found = NameFilter().select(list_databases(postgres.engine()))
    assert f"{server_databases}_sales" in found
    assert f"{server_databases}_sensors" in found
    assert f"{server_databases}_dagster_state" not in found
    assert "postgres" not in found
    assert not [name for name in found if name.startswith("template")]


def test_discovery_against_real_server_with_allow_and_deny_patterns(
    postgres, server_databases
):
    rules = NameFilter(
        includes=(f"{server_databases}_s*", f"{server_databases}_dagster*"),
        excludes=(*DEFAULT_DATABASE_EXCLUDES, "*_scratch", "*_sensors"),
    )
    assert rules.select(list_databases(postgres.engine())) == [
        f"{server_databases}_sales"
    ]


def test_distinct_service_names_reject_collisions():
    check_distinct_service_names(["a_b", "c"], ["x-a-b", "x-c"])
    with pytest.raises(ValueError, match="share the service name"):
        check_distinct_service_names(["a_b", "a-b"], ["x-a-b", "x-a-b"])


PREFIX_COUNT = 7
PAGE_SIZE = 2


@pytest.fixture
def lake_with_prefixes(s3) -> list[str]:
    client = s3.client()
    prefixes = [f"user{index}-assets/" for index in range(PREFIX_COUNT)]
    for prefix in prefixes:
        client.put_object(
            Bucket=s3.data_lake_bucket, Key=f"{prefix}data.csv", Body=b"a\n1\n"
        )
        client.put_object(
            Bucket=s3.data_lake_bucket, Key=f"{prefix}sub/x.csv", Body=b"a\n"
        )
    client.put_object(Bucket=s3.data_lake_bucket, Key="top-level.csv", Body=b"a\n")
    return prefixes


def test_one_listing_page_holds_fewer_prefixes_than_the_bucket(s3, lake_with_prefixes):
    page = s3.client().list_objects_v2(
        Bucket=s3.data_lake_bucket, Delimiter="/", MaxKeys=PAGE_SIZE
    )
    assert page["IsTruncated"] is True
    assert len(page.get("CommonPrefixes", [])) < PREFIX_COUNT


def test_prefix_discovery_pages_through_every_prefix(s3, lake_with_prefixes):
    found = list_top_level_prefixes(s3.client(), s3.data_lake_bucket, PAGE_SIZE)
    assert found == sorted(lake_with_prefixes)


def test_prefix_discovery_applies_patterns_without_trailing_slash(
    s3, lake_with_prefixes
):
    rules = NameFilter(includes=("user*",), excludes=("user3-assets",))
    listed = list_top_level_prefixes(s3.client(), s3.data_lake_bucket, PAGE_SIZE)
    found = discover_prefixes(listed, rules)
    assert found == sorted(set(lake_with_prefixes) - {"user3-assets/"})
