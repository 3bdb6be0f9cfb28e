"""Malformed inputs end with exit 2 and one clear last line on stderr."""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderate.matrix_profile.worker import pipeline
from moderate.matrix_profile.worker.cli import ERROR_PREFIX, GENERIC_FAILURE, main
from moderate.matrix_profile.worker.errors import MAX_MESSAGE_CHARS
from moderate_tests.matrix_profile.worker.conftest import PipesRun
from moderate_tests.matrix_profile.worker.data import daily_load, write_csv

HEADER = "timestamp,power,temp\n"


def _rows(count: int, value: str = "{i}") -> str:
    start = pd.Timestamp("2024-03-01")
    return "".join(
        f"{(start + pd.Timedelta(minutes=15 * i)):%Y-%m-%d %H:%M:%S},"
        f"{value.format(i=i)},5\n"
        for i in range(count)
    )


def _last_line(text: str) -> str:
    return text.rstrip("\n").splitlines()[-1]


def _fail(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 2) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    last = _last_line(captured.err)
    assert last.startswith(ERROR_PREFIX)
    message = last.removeprefix(ERROR_PREFIX)
    assert 0 < len(message) <= MAX_MESSAGE_CHARS
    return message


def _argv(path: Path, tmp_path: Path, variable: str = "power") -> list[str]:
    return [
        "--input-url",
        str(path),
        "--analysis-variable",
        variable,
        "--report-path",
        str(tmp_path / "report.html"),
    ]


@pytest.mark.parametrize(
    ("content", "variable", "expected"),
    [
        ("time,power\n" + _rows(50).replace(",5\n", "\n"), "power", "no 'timestamp'"),
        (
            "Timestamp,power\n2024-01-01 00:00:00,1\n",
            "power",
            "Did you mean 'Timestamp'",
        ),
        (
            HEADER + _rows(50),
            "Power",
            "no 'Power' column (the analysis variable). Did you",
        ),
        (HEADER + _rows(50), "load", "Columns found (3): 'timestamp', 'power', 'temp'"),
        (HEADER + _rows(50), "timestamp", "cannot be the 'timestamp' column"),
        (
            HEADER + _rows(3) + "2024-03-01 00:45:00,abc,5\n" + _rows(40),
            "power",
            "1 value(s) of 'power' are not numbers; the first is 'abc' on data row 4",
        ),
        (
            HEADER + "yesterday,1,5\n" + _rows(40),
            "power",
            "timestamp(s) could not be read (expected 'YYYY-MM-DD HH:MM:SS', UTC); "
            "the first is 'yesterday' on data row 1",
        ),
        (HEADER + _rows(10), "power", "Too few points: the series has 10 points"),
        (HEADER, "power", "Too few points: the input has 0 timestamp(s)"),
        (HEADER + _rows(60, "7.5"), "power", "same value (7.5) everywhere"),
        ("", "power", "The input file is empty"),
        (
            '{"timestamp": [1, 2], "power": [3, 4]}\n',
            "power",
            "not a CSV table (it looks like JSON",
        ),
    ],
)
def test_malformed_csv(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    variable: str,
    expected: str,
) -> None:
    path = tmp_path / "input.csv"
    path.write_text(content)

    message = _fail(capsys, _argv(path, tmp_path, variable))

    assert expected in message
    assert not (tmp_path / "report.html").exists()


def test_binary_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" * 20)

    assert "not a CSV text file" in _fail(capsys, _argv(path, tmp_path))


def test_missing_local_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = _fail(capsys, _argv(tmp_path / "absent.csv", tmp_path))

    assert message == "The input file 'absent.csv' does not exist."


def test_long_column_list_is_clipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [f"meter_with_a_rather_long_name_{i:03d}" for i in range(200)]
    path = tmp_path / "wide.csv"
    path.write_text("timestamp," + ",".join(names) + "\n")

    message = _fail(capsys, _argv(path, tmp_path, "power"))

    assert "Columns found (201): 'timestamp', 'meter_with" in message


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ("30D", "Too few points for the window '30D' (2880 points)"),
        ("abc", "neither a number of points nor a duration"),
        ("1M", "neither a number of points nor a duration"),
        ("2", "it must cover at least 4"),
        ("20min", "covers 1 point(s)"),
    ],
)
def test_bad_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], window: str, expected: str
) -> None:
    path = write_csv(daily_load(days=10), tmp_path / "load.csv")

    message = _fail(capsys, [*_argv(path, tmp_path), "--window", window])

    assert expected in message


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--analysis-variable", "power", "--report-path", "r.html"], "--input-url"),
        (
            ["--input-url", "x.csv", "--analysis-variable", "power"],
            "one of the arguments",
        ),
        (
            [
                "--input-url",
                "x.csv",
                "--analysis-variable",
                "p",
                "--report-path",
                "r",
                "--report-upload-url",
                "http://127.0.0.1:9/r",
            ],
            "not allowed with argument",
        ),
        (
            [
                "--input-url",
                "x.csv",
                "--analysis-variable",
                "p",
                "--report-path",
                "r",
                "--top-k",
                "0",
            ],
            "top_k must be between 1 and 20",
        ),
    ],
)
def test_invalid_arguments(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    message = _fail(capsys, argv)

    assert message.startswith("Invalid arguments: ")
    assert expected in message


def test_unsupported_scheme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _argv(tmp_path / "x.csv", tmp_path)
    argv[1] = "s3://bucket/key.csv"

    assert "Unsupported input URL scheme 's3'" in _fail(capsys, argv)


def test_unexpected_failure_exits_1_with_traceback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    planted: tuple[Path, pd.Timestamp],
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("numerical trouble")

    monkeypatch.setattr(pipeline, "analyse", broken)

    assert main(_argv(planted[0], tmp_path)) == 1
    captured = capsys.readouterr()
    assert "Traceback" in captured.err
    assert "RuntimeError: numerical trouble" in captured.err
    assert _last_line(captured.err) == ERROR_PREFIX + GENERIC_FAILURE


def test_success_reports_the_summary_through_pipes(
    tmp_path: Path,
    main_in_pipes: Callable[[Sequence[str]], PipesRun],
    planted: tuple[Path, pd.Timestamp],
) -> None:
    path = tmp_path / "semicolon.csv"
    frame = pd.read_csv(planted[0])
    frame.to_csv(path, sep=";", decimal=",", index=False)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    run = main_in_pipes([*_argv(path, tmp_path), "--top-k", "2", "--window", "1D"])

    assert run.exit_code == 0
    assert run.stdout == ""
    summary = run.summary
    assert summary is not None
    assert summary["points"] == 2880
    assert summary["window"] == 96
    assert summary["sampling_period_s"] == 900.0
    assert len(summary["discords"]) == 2
    assert len(summary["motifs"]) == 2
    assert set(summary["discords"][0]) == {"timestamp", "distance"}
    assert pd.Timestamp(summary["discords"][0]["timestamp"]).tzname() == "UTC"
    assert summary["report_bytes"] == (tmp_path / "report.html").stat().st_size
    assert np.isfinite([d["distance"] for d in summary["discords"]]).all()


def test_error_line_stays_last_after_the_pipes_messages(
    tmp_path: Path, main_in_pipes: Callable[[Sequence[str]], PipesRun]
) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(HEADER)

    run = main_in_pipes(_argv(path, tmp_path))

    assert run.exit_code == 2
    assert run.summary is None
    assert _last_line(run.stderr).startswith(ERROR_PREFIX)
    assert _last_line(run.log) == _last_line(run.stderr)
    assert len(run.log) < len(run.stderr), "the Pipes messages were on stderr"


def test_every_window_overlapping_a_long_gap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = daily_load(days=10)
    holes = [i for i in range(len(frame)) if i % 90 >= 77 and 0 < i < len(frame) - 20]
    path = write_csv(frame.drop(index=holes), tmp_path / "holes.csv")

    message = _fail(capsys, _argv(path, tmp_path))

    assert message.startswith("Every window overlaps a gap too long to interpolate")
