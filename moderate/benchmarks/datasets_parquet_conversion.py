"""CSV → Parquet on a BDG2-electricity-shaped meter file: project path vs pandas.

Generates a wide meter table (hourly ``timestamp`` plus one column per building,
many empty cells, some buildings without readings for the first weeks) in a
temporary directory, then converts it twice, each in its own subprocess so
that one measurement's memory cannot pollute the other:

- ``project``: :func:`moderate.datasets.csv_parquet.csv_to_parquet` (streamed
  in blocks, types guessed from the first block and inferred over the whole
  file when the guess does not hold);
- ``pandas``: ``pandas.read_csv`` of the whole file, then ``to_parquet``.

Run from ``moderate/``::

    python -m benchmarks.datasets_parquet_conversion [--rows 17544] [--buildings 1500]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

DEFAULT_ROWS = 17_544
DEFAULT_BUILDINGS = 1_500
EMPTY_SHARE = 0.3
LATE_START_SHARE = 0.1
LATE_START_ROWS = 24 * 21
CHUNK_ROWS = 1_000
SEED = 20_16
KIB = 1024
MIB = 1024 * 1024
PATHS = ("project", "pandas")


def generate(target: Path, rows: int, buildings: int) -> None:
    """Writes the meter CSV chunk by chunk."""
    rng = np.random.default_rng(SEED)
    names = [
        f"Site{index % 19}_use{index % 7}_Building{index}" for index in range(buildings)
    ]
    late = rng.random(buildings) < LATE_START_SHARE
    start = np.datetime64("2016-01-01T00:00:00")
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    schema = pa.schema(
        [("timestamp", pa.string())] + [(n, pa.float64()) for n in names]
    )
    with pacsv.CSVWriter(target, schema, write_options=options) as writer:
        for first in range(0, rows, CHUNK_ROWS):
            count = min(CHUNK_ROWS, rows - first)
            hours = np.arange(first, first + count)
            stamps = (start + hours.astype("timedelta64[h]")).astype(str)
            values = np.round(rng.gamma(2.0, 40.0, size=(count, buildings)), 4)
            mask = rng.random((count, buildings)) < EMPTY_SHARE
            mask[:, late] |= (hours < LATE_START_ROWS)[:, None]
            columns = [pa.array(np.char.replace(stamps, "T", " "))]
            columns.extend(
                pa.array(values[:, index], mask=mask[:, index])
                for index in range(buildings)
            )
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))


def convert(path: str, source: Path, target: Path) -> dict[str, float]:
    """Runs one conversion path in this process and measures it."""
    if path == "project":
        from moderate.datasets.csv_parquet import CsvOptions, csv_to_parquet

        loaded = _peak_rss_mib()
        began = time.perf_counter()
        csv_to_parquet(source, target, CsvOptions(), 10, source.name)
    else:
        import pandas as pd

        loaded = _peak_rss_mib()
        began = time.perf_counter()
        pd.read_csv(source).to_parquet(target, index=False)
    seconds = time.perf_counter() - began
    metadata = pq.ParquetFile(target).metadata
    return {
        "seconds": seconds,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_after_imports_mib": loaded,
        "rows": metadata.num_rows,
        "columns": metadata.num_columns,
        "parquet_mib": target.stat().st_size / MIB,
    }


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB


def _measure(path: str, source: Path, target: Path) -> dict[str, float]:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.datasets_parquet_conversion",
            "--child",
            path,
            str(source),
            str(target),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    """Generates the file, measures both paths and prints a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--buildings", type=int, default=DEFAULT_BUILDINGS)
    parser.add_argument("--child", nargs=3, metavar=("PATH", "CSV", "PARQUET"))
    arguments = parser.parse_args()
    if arguments.child:
        path, source, target = arguments.child
        print(json.dumps(convert(path, Path(source), Path(target))))
        return
    with tempfile.TemporaryDirectory(prefix="moderate-bench-") as temp:
        source = Path(temp) / "electricity_cleaned.csv"
        began = time.perf_counter()
        generate(source, arguments.rows, arguments.buildings)
        print(
            f"generated {source.name}: {arguments.rows} rows x "
            f"{arguments.buildings + 1} columns, {source.stat().st_size / MIB:.1f} MiB "
            f"in {time.perf_counter() - began:.1f} s"
        )
        results = {
            path: _measure(path, source, Path(temp) / f"{path}.parquet")
            for path in PATHS
        }
    header = f"{'path':<8} {'seconds':>8} {'peak RSS MiB':>13} {'after imports':>14} "
    print(header + f"{'rows':>7} {'columns':>8} {'parquet MiB':>12}")
    for path, figures in results.items():
        print(
            f"{path:<8} {figures['seconds']:>8.1f} {figures['peak_rss_mib']:>13.0f} "
            f"{figures['rss_after_imports_mib']:>14.0f} {figures['rows']:>7.0f} "
            f"{figures['columns']:>8.0f} {figures['parquet_mib']:>12.1f}"
        )


if __name__ == "__main__":
    main()
