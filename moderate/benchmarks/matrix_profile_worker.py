"""Worker end to end versus a bare ``stumpy.stump`` on the same series.

Run from ``moderate/``: ``python -m benchmarks.matrix_profile_worker``.
Series of 10,000, 35,000 and 100,000 points at 15-minute sampling, one-day
window (96 points). The worker is timed in process (``pipeline.run``: read the
CSV, validate, resample, matrix profile, figures, HTML written to a temporary
file); ``stumpy.stump`` alone on the resampled values with the same window.
One small warm-up call of each comes first, so numba's JIT compilation (or
cache load) is not counted in any row.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import stumpy

from moderate.matrix_profile.worker.analysis import enable_compilation_cache
from moderate.matrix_profile.worker.options import WorkerOptions
from moderate.matrix_profile.worker.pipeline import run

SIZES = (10_000, 35_000, 100_000)
PERIOD = pd.Timedelta(minutes=15)
POINTS_PER_DAY = 96
WARMUP_POINTS = 2_000


def make_csv(points: int, path: Path, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.arange(points) / POINTS_PER_DAY
    values = 20 + 6 * np.sin(phase) + 2.5 * np.sin(2 * phase)
    values += rng.normal(0, 0.3, points)
    spike = points // 2
    values[spike : spike + 12] += 9
    stamps = pd.date_range("2020-01-01", periods=points, freq=PERIOD)
    pd.DataFrame(
        {"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "power": values}
    ).to_csv(path, index=False)
    return values


def time_worker(csv: Path, report: Path) -> tuple[float, int]:
    started = time.perf_counter()
    result = run(
        WorkerOptions(input_url=str(csv), analysis_variable="power", report_path=report)
    )
    return time.perf_counter() - started, result.analysis.window


def time_stump(values: np.ndarray, window: int) -> float:
    started = time.perf_counter()
    stumpy.stump(values, m=window)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    arguments = parser.parse_args()

    enable_compilation_cache()
    print(
        f"CPU cores visible: {os.cpu_count()}, numba threads: "
        f"{numba.get_num_threads()}, stumpy {stumpy.__version__}"
    )
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        warm = make_csv(WARMUP_POINTS, work / "warmup.csv")
        time_worker(work / "warmup.csv", work / "warmup.html")
        time_stump(warm, POINTS_PER_DAY)
        print(
            f"warm-up (JIT compile or cache load, not counted below): "
            f"{time.perf_counter() - started:.1f} s"
        )
        header = (
            f"{'points':>8} {'window':>6} {'worker s':>9} {'stump s':>8} {'ratio':>6}"
        )
        print(header)
        print("-" * len(header))
        for points in arguments.sizes:
            csv = work / f"series-{points}.csv"
            values = make_csv(points, csv)
            worker_s, window = time_worker(csv, work / f"report-{points}.html")
            stump_s = time_stump(values, window)
            print(
                f"{points:>8} {window:>6} {worker_s:>9.2f} {stump_s:>8.2f} "
                f"{worker_s / stump_s:>6.2f}"
            )


if __name__ == "__main__":
    main()
