"""CSV → Parquet on a BDG2-electricity-shaped meter file, in fresh processes.

Generates a wide meter table (hourly ``timestamp`` plus one column per building,
many empty cells, some buildings without readings for the first weeks: 17,544
rows x 1,501 columns, about 150 MiB) in a temporary folder, then converts it
with the engines below, alternately (A B C D A B C D ...), ``--repetitions`` times
(default 3), each conversion in a new process that imports only its engine:

- ``project``: :func:`moderate.datasets.csv_parquet.csv_to_parquet` (types from
  a sample of the whole file, one streaming pass, row groups of ~32 MiB);
- ``pandas``: ``pandas.read_csv`` of the whole file, then ``to_parquet``;
- ``polars``: ``polars.scan_csv(...).sink_parquet(...)`` with its default
  schema inference;
- ``pyarrow``: ``pyarrow.csv.open_csv`` (types from the first block) streamed
  into a ``ParquetWriter`` (it stops at the first late-starting column);
- ``typed``: the same streaming pass told the right types up front (timestamp
  and doubles, the generator's schema), 16 MiB blocks, one row group per block:
  what a single typed pyarrow pass over the whole file costs;
- ``parse``: that typed CSV stream alone, batches discarded, nothing written:
  the floor of any conversion that parses the text with Arrow.

Each output is then read back with ``pyarrow.parquet.read_table`` (also in new
processes, alternating). The table gives CPU seconds (user + system, all
threads), wall seconds and each process's own peak RSS (``os.wait4``), min and
median, ratios of the medians against pandas, and the output's column types
(``late numeric`` counts the late-starting columns written as numbers).

Run from ``moderate/``::

    python -m benchmarks.datasets_parquet_conversion [--rows 17544] [--buildings 1500]
"""

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.processes import (
    MIB,
    ChildFailedError,
    alternate,
    load_average,
    min_median,
    own_peak_rss_bytes,
    python,
)

DEFAULT_ROWS = 17_544
DEFAULT_BUILDINGS = 1_500
EMPTY_SHARE = 0.3
LATE_START_SHARE = 0.1
LATE_START_ROWS = 24 * 21
CHUNK_ROWS = 1_000
SEED = 20_16
REPETITIONS = 3
ENGINES = ("project", "pandas", "polars", "pyarrow", "typed", "parse")
BASELINE = "pandas"
TYPED_BLOCK_BYTES = 16 * MIB
MODULE = "benchmarks.datasets_parquet_conversion"


def generate(target: Path, rows: int, buildings: int) -> None:
    """Writes the meter CSV chunk by chunk."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

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


def convert(engine: str, source: Path, target: Path) -> None:
    """Runs one engine in this process (the child side)."""
    if engine == "project":
        from moderate.datasets.csv_parquet import CsvOptions, csv_to_parquet

        csv_to_parquet(source, target, CsvOptions(), 10, source.name)
    elif engine == "pandas":
        import pandas as pd

        pd.read_csv(source).to_parquet(target, index=False)
    elif engine == "polars":
        import polars as pl

        pl.scan_csv(source).sink_parquet(target)
    elif engine == "pyarrow":
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        reader = pacsv.open_csv(source)
        with pq.ParquetWriter(target, reader.schema) as out:
            for batch in reader:
                out.write_batch(batch)
    elif engine in ("typed", "parse"):
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        names = pacsv.open_csv(source).schema.names
        types = dict.fromkeys(names, pa.float64())
        types["timestamp"] = pa.timestamp("us")
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=TYPED_BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(column_types=types),
        )
        if engine == "parse":
            for _batch in reader:
                pass
            return
        with pq.ParquetWriter(target, reader.schema, use_dictionary=False) as out:
            for batch in reader:
                out.write_batch(batch)
    else:
        raise ValueError(engine)


def read_back(target: Path) -> None:
    """Reads a whole output with pyarrow and prints its type summary (child)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(target)
    late = json.loads(target.with_suffix(".late.json").read_text())
    types = collections.Counter(str(field.type) for field in table.schema)
    numeric = sum(
        pa.types.is_floating(table.schema.field(name).type)
        or pa.types.is_integer(table.schema.field(name).type)
        for name in late
    )
    print(
        json.dumps(
            {
                "types": dict(types),
                "late_numeric": f"{numeric}/{len(late)}",
                "row_groups": pq.ParquetFile(target).metadata.num_row_groups,
            }
        )
    )


def _late_columns(source: Path, rows: int) -> list[str]:
    """Columns with no value in the first LATE_START_ROWS rows."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=64 * MIB),
        convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
    ).slice(0, min(rows, LATE_START_ROWS))
    return [
        name for name in table.column_names if pc.all(pc.is_null(table[name])).as_py()
    ]


def _child(arguments: argparse.Namespace) -> None:
    engine, source, target = arguments.child
    report: dict[str, object] = {}
    try:
        convert(engine, Path(source), Path(target))
    except Exception as error:  # noqa: BLE001 - the table reports any failure
        Path(target).unlink(missing_ok=True)
        report["failed"] = f"{type(error).__name__}: {error}"[:160]
    report["peak_rss_bytes"] = own_peak_rss_bytes()
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--buildings", type=int, default=DEFAULT_BUILDINGS)
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    parser.add_argument("--engines", nargs="+", default=list(ENGINES))
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "CSV", "PARQUET"))
    parser.add_argument("--read-back", metavar="PARQUET")
    arguments = parser.parse_args()
    if arguments.child:
        _child(arguments)
        return
    if arguments.read_back:
        read_back(Path(arguments.read_back))
        return
    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="moderate-bench-") as temp:
        folder = Path(temp)
        source = folder / "electricity_cleaned.csv"
        began = time.perf_counter()
        generate(source, arguments.rows, arguments.buildings)
        late = _late_columns(source, arguments.rows)
        print(
            f"generated {source.name}: {arguments.rows} rows x "
            f"{arguments.buildings + 1} columns, "
            f"{source.stat().st_size / MIB:.1f} MiB, {len(late)} late-starting "
            f"columns, in {time.perf_counter() - began:.1f} s"
        )
        targets = {engine: folder / f"{engine}.parquet" for engine in arguments.engines}
        for target in targets.values():
            target.with_suffix(".late.json").write_text(json.dumps(late))
        commands = {
            engine: [
                python(),
                "-m",
                MODULE,
                "--child",
                engine,
                str(source),
                str(target),
            ]
            for engine, target in targets.items()
        }
        conversions = alternate(commands, arguments.repetitions)
        failures = {}
        for engine, samples in conversions.items():
            last = samples.runs[-1].output.strip().splitlines()
            if "failed" in json.loads(last[-1]):
                failures[engine] = json.loads(last[-1])["failed"]
        readable = {
            e: t for e, t in targets.items() if e not in failures and t.exists()
        }
        reads = alternate(
            {
                engine: [python(), "-m", MODULE, "--read-back", str(target)]
                for engine, target in readable.items()
            },
            arguments.repetitions,
        )
        sizes = {e: t.stat().st_size / MIB for e, t in readable.items()}
    _print_table(conversions, reads, sizes, failures, arguments.repetitions)
    print(f"load average after: {load_average()}")


def _print_table(conversions, reads, sizes, failures, repetitions) -> None:
    print(f"{repetitions} alternating runs each; ratios are of medians, ÷ {BASELINE}")
    header = (
        f"{'engine':<8} {'CPU s min':>9} {'CPU s med':>9} {'wall s min':>10} "
        f"{'wall s med':>10} {'RSS MiB med':>11} {'CPU ÷':>6} {'wall ÷':>6} "
        f"{'RSS ÷':>6}"
    )
    print("conversion")
    print(header)
    print("-" * len(header))
    base = conversions[BASELINE]
    base_cpu = min_median(base.cpu())[1]
    base_wall = min_median(base.wall())[1]
    base_rss = min_median(base.reported("peak_rss_bytes"))[1] / MIB
    for engine, samples in conversions.items():
        cpu_min, cpu_med = min_median(samples.cpu())
        wall_min, wall_med = min_median(samples.wall())
        rss = min_median(samples.reported("peak_rss_bytes"))[1] / MIB
        note = f"  FAILED: {failures[engine]}" if engine in failures else ""
        print(
            f"{engine:<8} {cpu_min:>9.2f} {cpu_med:>9.2f} {wall_min:>10.2f} "
            f"{wall_med:>10.2f} {rss:>11.0f} {cpu_med / base_cpu:>6.2f} "
            f"{wall_med / base_wall:>6.2f} {rss / base_rss:>6.2f}{note}"
        )
    print("read-back of the output (pyarrow.parquet.read_table)")
    header = (
        f"{'engine':<8} {'CPU s med':>9} {'wall s med':>10} {'MiB':>6} "
        f"{'groups':>6} {'late numeric':>12}  types"
    )
    print(header)
    print("-" * len(header))
    for engine, samples in reads.items():
        summary = json.loads(samples.runs[-1].output.strip().splitlines()[-1])
        print(
            f"{engine:<8} {min_median(samples.cpu())[1]:>9.2f} "
            f"{min_median(samples.wall())[1]:>10.2f} {sizes[engine]:>6.1f} "
            f"{summary['row_groups']:>6} {summary['late_numeric']:>12}  "
            f"{summary['types']}"
        )


if __name__ == "__main__":
    try:
        main()
    except ChildFailedError as error:
        sys.exit(str(error))
