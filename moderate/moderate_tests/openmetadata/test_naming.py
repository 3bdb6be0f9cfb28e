import re

import pytest

from moderate.openmetadata.naming import (
    MAX_SERVICE_NAME_LENGTH,
    datalake_service_name,
    postgres_service_name,
    slugify,
)

OM_ENTITY_NAME = re.compile(r"^((?!::).){1,256}$")


def test_slugify_lowercases_and_replaces_separators():
    assert slugify("Building_Stock Analysis") == "building-stock-analysis"
    assert slugify("a__b--c") == "a-b-c"
    assert slugify("-x-") == "x"


def test_postgres_service_name_matches_deployed_names():
    assert (
        postgres_service_name("building_stock_analysis")
        == "platform-postgres-building-stock-analysis"
    )


def test_postgres_service_name_rejects_names_without_content():
    with pytest.raises(ValueError, match="cannot derive"):
        postgres_service_name("___")


def test_datalake_service_name_is_slug_plus_sha256_of_listed_prefix():
    assert datalake_service_name("alice-assets/") == (
        "platform-datalake-alice-assets-"
        "a4121e140efb12433e037aa9c026497f90ce197c2052ff610f98addfe36fb81b"
    )


def test_datalake_service_names_differ_when_slugs_collide():
    first = datalake_service_name("Alice_Assets/")
    second = datalake_service_name("alice-assets/")
    assert first != second
    assert first.rsplit("-", 1)[0] == second.rsplit("-", 1)[0]


@pytest.mark.parametrize(
    "prefix",
    ["a/", "x" * 1000 + "/", "with.dots and spaces/", "ünïcödé/", "::colons::/"],
)
def test_datalake_service_names_are_valid_entity_names(prefix):
    name = datalake_service_name(prefix)
    assert len(name) <= MAX_SERVICE_NAME_LENGTH
    assert OM_ENTITY_NAME.match(name)
    assert re.fullmatch(r"[a-z0-9-]+", name)
    assert not name.startswith("-")
    assert "--" not in name
