from moderate.datasets.config import (
    BUILDING_STOCK_SOURCE,
    SOURCE_DEFAULTS,
    FileReadOptions,
    KeyColumnRule,
    PrepareConfig,
)
from moderate.datasets.prepare import fingerprint


def test_nested_overrides_resolve_to_settings_that_shape_the_fingerprint() -> None:
    config = PrepareConfig(
        read_options=[FileReadOptions(glob="data/*.csv", separator=";")],
        key_columns=[KeyColumnRule(glob="data/*.csv", columns=["id"])],
        preview_rows=3,
    )

    resolved = config.resolve(BUILDING_STOCK_SOURCE)

    (options,) = resolved.read_options
    assert isinstance(options, FileReadOptions) and options.separator == ";"
    assert resolved.key_columns[0].columns == ["id"]
    assert resolved.preview_rows == 3
    assert resolved.repo_url == SOURCE_DEFAULTS[BUILDING_STOCK_SOURCE].repo_url
    assert fingerprint(resolved) != fingerprint(SOURCE_DEFAULTS[BUILDING_STOCK_SOURCE])


def test_an_empty_run_config_keeps_the_source_defaults() -> None:
    resolved = PrepareConfig().resolve(BUILDING_STOCK_SOURCE)
    assert resolved == SOURCE_DEFAULTS[BUILDING_STOCK_SOURCE]
