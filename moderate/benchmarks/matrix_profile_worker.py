"""Worker end to end versus a bare ``stumpy.stump`` on the same series.

Run from ``moderate/``: ``python -m benchmarks.matrix_profile_worker``.
Series of 10,000, 35,000 and 100,000 points at 15-minute sampling, one-day
window (96 points). The worker is timed in process (``pipeline.run``: read the
CSV, validate, resample, matrix profile, figures, HTML written to a temporary
file); ``stumpy.stump`` alone on the resampled values with the same window.
One small warm-up call of each comes first, so numba's JIT compilation (or
cache load) is not counted in any row. Wall-clock seconds and process CPU
seconds (all threads) are printed: on a shared machine the CPU figures are the
steadier ones.
"""

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numba
import numpy as np
import pandas as pd
import stumpy

from moderate.matrix_profile.worker.analysis import enable_compilation_cache
from moderate.matrix_profile.worker.options import WorkerOptions
from moderate.matrix_profile.worker.pipeline import WorkerResult, run

T = TypeVar("T")

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


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float


def timed(action: Callable[[], T]) -> tuple[Timing, T]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = action()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), value


def time_worker(csv: Path, report: Path) -> tuple[Timing, WorkerResult]:
    options = WorkerOptions(
        input_url=str(csv), analysis_variable="power", report_path=report
    )
    return timed(lambda: run(options))


def time_stump(values: np.ndarray, window: int) -> Timing:
    timing, _ = timed(lambda: stumpy.stump(values, m=window))
    return timing


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
            f"{'points':>8} {'window':>6} {'worker wall s':>13} {'stump wall s':>12} "
            f"{'worker CPU s':>12} {'stump CPU s':>11} {'report KiB':>10}"
        )
        print(header)
        print("-" * len(header))
        for points in arguments.sizes:
            csv = work / f"series-{points}.csv"
            values = make_csv(points, csv)
            worker, result = time_worker(csv, work / f"report-{points}.html")
            stump = time_stump(values, result.analysis.window)
            print(
                f"{points:>8} {result.analysis.window:>6} {worker.wall_s:>13.2f} "
                f"{stump.wall_s:>12.2f} {worker.cpu_s:>12.2f} {stump.cpu_s:>11.2f} "
                f"{result.report_bytes / 1024:>10.0f}"
            )


if __name__ == "__main__":
    main()
