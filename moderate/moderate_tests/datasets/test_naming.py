import uuid

import pytest

from moderate.datasets.naming import (
    DatasetFormat,
    dataset_name,
    legacy_platform_asset_uuid,
    matches,
    platform_asset_uuid,
    redact_url,
    select,
    series_id,
    upload_file_name,
)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("data/meters/cleaned/*.csv", "data/meters/cleaned/gas_cleaned.csv", True),
        ("data/meters/cleaned/*.csv", "data/meters/raw/gas.csv", False),
        ("data/meters/cleaned/*.csv", "data/meters/cleaned/sub/gas.csv", False),
        ("T3.1-dynamic-analysis/**/*.csv", "T3.1-dynamic-analysis/a.csv", True),
        ("T3.1-dynamic-analysis/**/*.csv", "T3.1-dynamic-analysis/x/y/a.csv", True),
        ("T3.1-dynamic-analysis/**/*.csv", "T3.1-dynamic-analysisX/a.csv", False),
        ("T3.1-dynamic-analysis/**/*.csv", "T3.1-dynamic-analysis/a.csv.bak", False),
        ("data/**", "data/a/b.csv", True),
        ("data/?.csv", "data/a.csv", True),
        ("data/?.csv", "data/ab.csv", False),
        ("data/[xy].csv", "data/x.csv", True),
        ("data/[xy].csv", "data/[xy].csv", False),
        ("*.csv", "data/a.csv", False),
        ("!a.csv", "!a.csv", True),
    ],
)
def test_glob_semantics(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


def test_select_reports_globs_that_matched_nothing() -> None:
    selection = select(
        ["data/weather/*.csv", "data/missing/*.csv", "data/**/*.csv"],
        ["data/weather/weather.csv", "README.md", "data/weather/weather.csv"],
    )
    assert selection.paths == ("data/weather/weather.csv",)
    assert selection.unmatched_globs == ("data/missing/*.csv",)


def test_dataset_names_are_repository_relative_and_normalised() -> None:
    assert dataset_name("./data//meters/x.csv") == "data/meters/x.csv"
    assert dataset_name("T3.2/book.xlsx", "Europe27") == "T3.2/book.xlsx#Europe27"
    for bad in ("/tmp/clone/data/x.csv", "../x.csv", "."):
        with pytest.raises(ValueError):
            dataset_name(bad)


def test_series_ids_are_stable_and_distinct_per_format_and_source() -> None:
    name = "data/meters/cleaned/gas_cleaned.csv"
    parquet = series_id("genome_project", name, DatasetFormat.PARQUET)
    assert parquet == series_id("genome_project", name, DatasetFormat.PARQUET)
    assert parquet != series_id("genome_project", name, DatasetFormat.ORIGINAL)
    assert parquet != series_id("building_stock", name, DatasetFormat.PARQUET)
    uuid.UUID(parquet)


def test_platform_uuid_ignores_the_api_url_and_legacy_uuid_follows_contract() -> None:
    assert platform_asset_uuid("genome-project") == platform_asset_uuid(
        "genome-project"
    )
    assert platform_asset_uuid("genome-project") != platform_asset_uuid(
        "building-stock"
    )
    expected = uuid.uuid5(
        uuid.NAMESPACE_URL, "https://api.gw.moderate.cloud/asset/building-stock"
    )
    assert legacy_platform_asset_uuid(
        "https://api.gw.moderate.cloud/", "building-stock"
    ) == str(expected)


def test_upload_file_names_are_readable_slugs() -> None:
    assert (
        upload_file_name(
            "data/meters/cleaned/gas_cleaned.csv", DatasetFormat.PARQUET, ".csv"
        )
        == "data-meters-cleaned-gas-cleaned.parquet"
    )
    assert (
        upload_file_name(
            "T3.2/book.xlsx#Czech Republic", DatasetFormat.PARQUET, ".xlsx"
        )
        == "t3-2-book-xlsx-czech-republic.parquet"
    )
    assert (
        upload_file_name("data/weather/weather.csv", DatasetFormat.ORIGINAL, ".csv")
        == "data-weather-weather.csv"
    )


def test_redact_url_drops_credentials() -> None:
    assert (
        redact_url("https://user:token@github.com:443/org/repo.git")
        == "https://github.com:443/org/repo.git"
    )
    assert redact_url("file:///tmp/repo.git") == "file:///tmp/repo.git"
    assert (
        redact_url("fatal: https://x:p@ss@github.com/r?a@b not found")
        == "fatal: https://github.com/r?a@b not found"
    )
    for raw in ("https://u:p?q@h/x", "https://u:p#x@h/"):
        assert "u:p" not in redact_url(raw), raw
