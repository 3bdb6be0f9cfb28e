"""Reading the two needed columns from real-world CSV shapes."""

from pathlib import Path

import numpy as np
import pandas as pd

from moderate.matrix_profile.worker.table import read_table


def test_wide_header_beyond_the_sniffed_bytes(tmp_path: Path) -> None:
    names = [f"Panther_lodging_building_{i:04d}" for i in range(3000)]
    path = tmp_path / "electricity_cleaned.csv"
    with path.open("w") as sink:
        sink.write("\n\ntimestamp," + ",".join(names) + "\n")
        for hour in range(3):
            cells = ",".join(str(hour + i % 7) for i in range(len(names)))
            sink.write(f"2016-01-01 {hour:02d}:00:00,{cells}\n")

    raw = read_table(path, names[-1])

    assert raw.values.tolist() == [(2999 % 7) + hour for hour in range(3)]
    assert raw.index[-1] == pd.Timestamp("2016-01-01 02:00", tz="UTC")


def test_spaces_around_names_crlf_and_offsets(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    path.write_bytes(
        b" timestamp , power ,temp\r\n"
        b"2024-01-01T01:00:00+01:00, 1.5 ,3\r\n"
        b"2024-01-01 00:15:00,,4\r\n"
        b"2024-01-01 00:30:00,-inf,4\r\n"
        b"2024-01-01 00:45:00,NaN,4\r\n"
        b"2024-01-01 01:00:00,1e3,4\r\n"
    )

    raw = read_table(path, "power")

    assert raw.index[0] == pd.Timestamp("2024-01-01 00:00", tz="UTC")
    assert raw.values[0] == 1.5
    assert np.isnan(raw.values[1:4]).all()
    assert raw.values[4] == 1000.0
    assert int(raw.isna().sum()) == 3


def test_tab_separated(tmp_path: Path) -> None:
    path = tmp_path / "load.tsv"
    path.write_text(
        "timestamp\tpower\n2024-01-01 00:00:00\t2\n2024-01-01 00:15:00\t3\n"
    )

    raw = read_table(path, "power")

    assert raw.values.tolist() == [2.0, 3.0]
    assert raw.index[1] == pd.Timestamp("2024-01-01 00:15", tz="UTC")
