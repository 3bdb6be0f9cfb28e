from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from moderate.datasets import csv_parquet
from moderate.datasets.csv_parquet import CsvOptions, DatasetReadError, csv_to_parquet
from moderate.datasets.profile import ColumnKind, TableStats
from moderate.datasets.staging import DatasetRecord, DatasetStatus
from moderate.datasets.workbook import open_workbook, sheet_names, sheet_to_parquet
from moderate_tests.datasets.repos import PV_PATH, SHARED_DATA, WORKBOOK_PATH, meter_csv

PV_OPTIONS = CsvOptions(skip_rows=1, separator=";", decimal=",")
WORKBOOK_SHEETS = 28
EMPTY_WORKBOOK_COLUMNS = {
    "SH_districtHeating_NA",
    "DHW_districtHeating_NA",
    "DHW_solarCollectors_NA",
    "DHW_fossilFuels_solid",
    "DHW_biomass_NA",
}


def empty_columns(stats: TableStats) -> tuple[str, ...]:
    """The columns the empty-column check reports for a converted dataset."""
    record = DatasetRecord(
        name="t",
        source_path="t",
        status=DatasetStatus.OK,
        rows=stats.rows,
        columns=stats.columns,
    )
    return record.empty_columns


def test_pv_excerpt_title_row_separator_and_decimal_comma(tmp_path: Path) -> None:
    source = SHARED_DATA / PV_PATH
    stats = csv_to_parquet(source, tmp_path / "pv.parquet", PV_OPTIONS, 5, PV_PATH)

    table = pq.read_table(tmp_path / "pv.parquet")
    assert stats.rows == table.num_rows == 237
    assert table.column_names == [
        "fid",
        "id_building",
        "h",
        "roof_area",
        "municipio",
        "id_landuse",
        "Name",
        "Land Use",
        "id_pv",
        "pv_area_m2",
        "pv_presence",
    ]
    assert str(table.schema.field("h").type) == "double"
    assert str(table.schema.field("roof_area").type) == "double"
    assert str(table.schema.field("fid").type) == "int64"
    expected = pd.read_csv(source, skiprows=1, sep=";", decimal=",")
    converted = table.to_pandas()
    pd.testing.assert_frame_equal(converted, expected, check_dtype=False)
    assert converted["roof_area"].min() == pytest.approx(1.15971e-06)
    assert (converted["h"] == 999).sum() > 0
    assert stats.preview[0][:2] == ("fid", "id_building")
    assert stats.preview[1][2] == "4.22"
    assert empty_columns(stats) == ()


def test_without_its_read_options_the_pv_file_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(DatasetReadError, match=PV_PATH):
        csv_to_parquet(
            SHARED_DATA / PV_PATH, tmp_path / "pv.parquet", CsvOptions(), 0, PV_PATH
        )


def test_types_are_inferred_over_the_whole_file_not_the_first_block(
    tmp_path: Path,
) -> None:
    source = tmp_path / "meter.csv"
    source.write_text(meter_csv(2000))
    stats = csv_to_parquet(
        source, tmp_path / "m.parquet", CsvOptions(block_size=4096), 3, "meter.csv"
    )

    table = pq.read_table(tmp_path / "m.parquet")
    assert table.num_rows == stats.rows == 2000
    assert str(table.schema.field("timestamp").type) == "timestamp[us]"
    first = table.schema.names[1]
    assert str(table.schema.field(first).type) == "double"
    assert table.column(first).null_count == 48
    # Row groups are sized for readers, not by the parsing block.
    assert pq.ParquetFile(tmp_path / "m.parquet").metadata.num_row_groups == 1


def test_row_groups_gather_blocks_up_to_the_target_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_parquet, "ROW_GROUP_BYTES", 64 * 1024)
    source = tmp_path / "meter.csv"
    source.write_text(meter_csv(20_000))
    csv_to_parquet(
        source, tmp_path / "m.parquet", CsvOptions(block_size=4096), 0, "meter.csv"
    )
    metadata = pq.ParquetFile(tmp_path / "m.parquet").metadata
    assert metadata.num_rows == 20_000
    assert 1 < metadata.num_row_groups < 20_000 * 40 // 4096


def _late_meter(rows: int, empty_until: int, odd_row: int | None = None) -> str:
    lines = ["timestamp,early,late,label"]
    for index in range(rows):
        late = "" if index < empty_until else f"{index * 0.5:.1f}"
        label = "x" if index == odd_row else str(index % 5)
        lines.append(f"2016-01-01 00:{index % 60:02d}:00,{index % 9},{late},{label}")
    return "\n".join(lines) + "\n"


def test_sampled_types_keep_a_late_starting_column_numeric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_parquet, "SAMPLE_BYTES", 2048)
    monkeypatch.setattr(csv_parquet, "SAMPLE_COUNT", 8)
    source = tmp_path / "late.csv"
    source.write_text(_late_meter(20_000, empty_until=14_000))
    assert source.stat().st_size > 8 * 2048
    kinds = csv_parquet._sampled_kinds(
        source, CsvOptions(), ["timestamp", "early", "late", "label"]
    )
    assert kinds["late"] == ColumnKind.FLOAT
    csv_to_parquet(source, tmp_path / "l.parquet", CsvOptions(), 0, "late.csv")
    table = pq.read_table(tmp_path / "l.parquet")
    types = {field.name: str(field.type) for field in table.schema}
    assert types == {
        "timestamp": "timestamp[us]",
        "early": "int64",
        "late": "double",
        "label": "int64",
    }
    assert table.column("late").null_count == 14_000


def test_a_value_the_samples_missed_still_widens_the_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_parquet, "SAMPLE_BYTES", 2048)
    monkeypatch.setattr(csv_parquet, "SAMPLE_COUNT", 4)
    source = tmp_path / "odd.csv"
    source.write_text(_late_meter(20_000, empty_until=0, odd_row=19_990))
    csv_to_parquet(source, tmp_path / "o.parquet", CsvOptions(), 0, "odd.csv")
    table = pq.read_table(tmp_path / "o.parquet")
    assert str(table.schema.field("label").type) == "string"
    assert table.column("label")[19_990].as_py() == "x"


def test_duplicate_and_empty_header_names_are_made_unique(tmp_path: Path) -> None:
    source = tmp_path / "dup.csv"
    source.write_text("a,b,a,,a_2\n1,2,3,4,5\n6,7,8,9,10\n")
    target = tmp_path / "dup.parquet"
    stats = csv_to_parquet(source, target, CsvOptions(), 2, "dup.csv")
    expected = ["a", "b", "a_2", "column_4", "a_2_2"]
    assert list(stats.preview[0]) == expected
    assert pq.read_table(target).column_names == expected
    assert pq.read_table(target).column("a_2").to_pylist() == [3, 8]
    assert list(pd.read_parquet(target).columns) == expected
    assert pl.read_parquet(target).columns == expected
    assert pl.read_parquet(target)["column_4"].to_list() == [4, 9]


def test_a_column_that_turns_to_text_late_is_kept_as_text(tmp_path: Path) -> None:
    source = tmp_path / "late.csv"
    rows = [f"{index},{index * 2}" for index in range(3000)] + ["n/a,7"]
    source.write_text("a,b\n" + "\n".join(rows) + "\n")
    csv_to_parquet(
        source, tmp_path / "late.parquet", CsvOptions(block_size=2048), 0, "x"
    )
    table = pq.read_table(tmp_path / "late.parquet")
    assert str(table.schema.field("a").type) == "string"
    assert str(table.schema.field("b").type) == "int64"
    assert table.column("a")[-1].as_py() == "n/a"


def test_integers_first_then_decimals_become_floats(tmp_path: Path) -> None:
    source = tmp_path / "widen.csv"
    rows = [f"{index},{index % 7},," for index in range(3000)]
    rows.append("3000,2.5,,2016-01-01 00:00:00")
    source.write_text("id,reading,empty,when\n" + "\n".join(rows) + "\n")
    stats = csv_to_parquet(
        source, tmp_path / "w.parquet", CsvOptions(block_size=2048), 0, "widen.csv"
    )
    table = pq.read_table(tmp_path / "w.parquet")
    types = {field.name: str(field.type) for field in table.schema}
    assert types == {
        "id": "int64",
        "reading": "double",
        "empty": "double",
        "when": "timestamp[us]",
    }
    assert table.column("reading")[-1].as_py() == 2.5
    assert table.column("reading")[8].as_py() == 1.0
    assert empty_columns(stats) == ("empty",)


def test_a_broken_csv_names_the_file(tmp_path: Path) -> None:
    source = tmp_path / "broken.csv"
    source.write_text("timestamp,a\n2016-01-01 00:00:00,1\n2016-01-01 01:00:00,2,3\n")
    with pytest.raises(DatasetReadError, match=r"data/meters/cleaned/broken\.csv"):
        csv_to_parquet(
            source,
            tmp_path / "b.parquet",
            CsvOptions(),
            0,
            "data/meters/cleaned/broken.csv",
        )
    assert not (tmp_path / "b.parquet").exists()


def test_workbook_excerpt_one_dataset_per_sheet(tmp_path: Path) -> None:
    with open_workbook(SHARED_DATA / WORKBOOK_PATH, WORKBOOK_PATH) as workbook:
        names = sheet_names(workbook)
        assert len(names) == WORKBOOK_SHEETS
        assert names[0] == "Austria" and names[-1] == "Europe27"
        stats = sheet_to_parquet(workbook, "Europe27", tmp_path / "eu.parquet", 3, "x")

    assert stats is not None
    table = pq.read_table(tmp_path / "eu.parquet")
    assert table.num_rows == stats.rows == 50
    assert table.num_columns == 100
    assert table.column_names[:3] == ["country_num", "country_code", "country"]
    assert table.column("country_num")[0].as_py() == "98"
    assert str(table.schema.field("area_Mm2").type) == "double"
    assert set(empty_columns(stats)) >= EMPTY_WORKBOOK_COLUMNS
    assert "country" not in empty_columns(stats)


def test_a_file_that_is_not_a_workbook_is_reported(tmp_path: Path) -> None:
    bogus = tmp_path / "fake.xlsx"
    bogus.write_text("not a zip")
    with (
        pytest.raises(DatasetReadError, match=r"fake\.xlsx"),
        open_workbook(bogus, "fake.xlsx"),
    ):
        pass


def test_sheet_names_are_unique_among_the_kept_columns(tmp_path: Path) -> None:
    from openpyxl import Workbook

    source = Workbook()
    sheet = source.active
    sheet.append(["a", None, "column_2", None])
    sheet.append([1, None, 2, 3])
    source.save(tmp_path / "book.xlsx")
    with open_workbook(tmp_path / "book.xlsx", "book.xlsx") as workbook:
        sheet_to_parquet(workbook, sheet.title, tmp_path / "out.parquet", 1, "x")

    # The empty, untitled second column is dropped and takes no name.
    assert pq.read_table(tmp_path / "out.parquet").column_names == [
        "a",
        "column_2",
        "column_4",
    ]
