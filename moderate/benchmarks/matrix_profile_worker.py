"""Analysis worker end to end versus a bare ``stumpy.stump``, in fresh processes.

Run from ``moderate/``: ``python -m benchmarks.matrix_profile_worker``.

For each series length (default 10,000, 35,000 and 100,000 points at 15-minute
sampling, one-day window of 96 points) two peers run alternately, each in a new
process, ``--repetitions`` times (default 3):

- ``worker``: ``python -m moderate.matrix_profile.worker`` on a local CSV, writing
  the HTML report (read, validate, regularise, matrix profile, figures, report);
- ``stump``: a process that imports numpy and stumpy, enables the same numba
  disk cache, loads the same values from a ``.npy`` file and calls
  ``stumpy.stump(values, m=96)``.

Both find numba's cache warm (one untimed run of each comes first). The table
gives CPU seconds (user + system, all threads) and wall seconds, min and
median, and worker ÷ stump of the CPU medians. No tracer or profiler is active
while timing. With ``--approximate-above-points N`` a third peer runs the
worker in its approximate mode (``stumpy.scrump``) for series longer than N.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.processes import alternate, load_average, min_median, python

SIZES = (10_000, 35_000, 100_000)
PERIOD_MINUTES = 15
POINTS_PER_DAY = 96
WARMUP_POINTS = 2_000
REPETITIONS = 3
SPIKE_POINTS = 12
SPIKE_HEIGHT = 9.0

BARE_STUMP = """
import importlib, sys
import numpy as np
import stumpy
from stumpy import cache
for module, function in cache.get_njit_funcs():
    getattr(importlib.import_module(f"stumpy.{module}"), function).enable_caching()
stumpy.stump(np.load(sys.argv[1]), m=int(sys.argv[2]))
"""


def make_series(points: int, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Writes a daily-pattern series with one spike as CSV and as ``.npy``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.arange(points) / POINTS_PER_DAY
    values = 20 + 6 * np.sin(phase) + 2.5 * np.sin(2 * phase)
    values += rng.normal(0, 0.3, points)
    spike = points // 2
    values[spike : spike + SPIKE_POINTS] += SPIKE_HEIGHT
    stamps = pd.date_range(
        "2020-01-01", periods=points, freq=pd.Timedelta(minutes=PERIOD_MINUTES)
    )
    csv = folder / f"series-{points}.csv"
    pd.DataFrame(
        {"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "power": values}
    ).to_csv(csv, index=False)
    array = folder / f"series-{points}.npy"
    # The worker analyses the values it parsed from the CSV text.
    np.save(array, pd.read_csv(csv)["power"].to_numpy(dtype=np.float64))
    return csv, array


def peers(
    csv: Path, array: Path, report: Path, approximate_above: int | None
) -> dict[str, list[str]]:
    worker = [
        python(),
        "-m",
        "moderate.matrix_profile.worker",
        "--input-url",
        str(csv),
        "--analysis-variable",
        "power",
        "--window",
        str(POINTS_PER_DAY),
        "--report-path",
        str(report),
    ]
    commands = {
        "worker": worker,
        "stump": [python(), "-c", BARE_STUMP, str(array), str(POINTS_PER_DAY)],
    }
    if approximate_above is not None:
        commands["worker approx"] = [
            *worker,
            "--approximate-above-points",
            str(approximate_above),
        ]
    return commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    parser.add_argument("--approximate-above-points", type=int)
    arguments = parser.parse_args()

    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as folder:
        work = Path(folder)
        csv, array = make_series(WARMUP_POINTS, work)
        warm = peers(
            csv, array, work / "warmup.html", arguments.approximate_above_points
        )
        alternate(warm, 1)
        header = (
            f"{'points':>8} {'peer':<14} {'CPU s min':>9} {'CPU s med':>9} "
            f"{'wall s min':>10} {'wall s med':>10} {'÷ stump (CPU med)':>18}"
        )
        print(f"window {POINTS_PER_DAY}, {arguments.repetitions} alternating runs each")
        print(header)
        print("-" * len(header))
        for points in arguments.sizes:
            csv, array = make_series(points, work)
            results = alternate(
                peers(
                    csv,
                    array,
                    work / f"report-{points}.html",
                    arguments.approximate_above_points,
                ),
                arguments.repetitions,
            )
            _, stump_median = min_median(results["stump"].cpu())
            for name, samples in results.items():
                cpu_min, cpu_median = min_median(samples.cpu())
                wall_min, wall_median = min_median(samples.wall())
                print(
                    f"{points:>8} {name:<14} {cpu_min:>9.2f} {cpu_median:>9.2f} "
                    f"{wall_min:>10.2f} {wall_median:>10.2f} "
                    f"{cpu_median / stump_median:>18.2f}"
                )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
