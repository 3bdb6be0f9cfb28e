"""The analysis worker end to end in its image: warm numba cache versus an empty one.

Run from ``moderate/`` with the engine of ``.ci/setup.d/50-docker.sh`` up:
``python -m benchmarks.worker_image``. Builds the ``matrix-profile-worker``
target, then runs one 35,000-point analysis (15-minute series, one-day window)
per fresh container, as the Kubernetes Job runs it (read-only root, uid 10001,
tmpfs ``/tmp``, the Job's environment), alternating:

* warm: the image as built (its generic numba cache is copied into the Job's
  ``NUMBA_CACHE_DIR``);
* empty cache: the same with ``MODERATE_NUMBA_CACHE_SEED`` emptied, so numba
  compiles stumpy in the container.

Printed per mode, min and median over the repetitions: the worker's wall-clock
and CPU seconds inside the container, the whole ``docker run`` (container
creation included, which vfs makes slow here), and numba's cache saves (each
one a compilation) and loads from ``NUMBA_DEBUG_CACHE``.
"""

import argparse
import statistics
import sys

from moderate_tests.images.docker import build, engine_problem
from moderate_tests.images.worker_job import WorkerRun, run_worker

POINTS = 35_000
REPETITIONS = 3
MODES = {"warm": {}, "empty cache": {"MODERATE_NUMBA_CACHE_SEED": ""}}


def _row(mode: str, runs: list[WorkerRun]) -> str:
    def stats(values: list[float]) -> str:
        return f"{min(values):7.1f} {statistics.median(values):7.1f}"

    return (
        f"{mode:<12} {stats([r.worker_wall_s for r in runs])} "
        f"{stats([r.cpu_s for r in runs])} {stats([r.wall_s for r in runs])} "
        f"{max(r.compiled for r in runs):8d} {min(r.loaded for r in runs):6d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=POINTS)
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    arguments = parser.parse_args()
    problem = engine_problem()
    if problem is not None:
        sys.exit(problem)
    image = build("matrix-profile-worker")
    print(f"image {image.tag}: {image.size_bytes / 2**20:.0f} MiB")
    results: dict[str, list[WorkerRun]] = {mode: [] for mode in MODES}
    for repetition in range(arguments.repetitions):
        for mode, env in MODES.items():
            run = run_worker(image.tag, arguments.points, env, measure_cpu=True)
            if run.exit_code != 0:
                sys.exit(f"{mode} run {repetition} failed:\n{run.stderr[-3000:]}")
            results[mode].append(run)
            print(
                f"  rep {repetition} {mode}: worker {run.worker_wall_s:.1f} s wall, "
                f"{run.cpu_s:.1f} s CPU; docker run {run.wall_s:.1f} s; "
                f"{run.compiled} saves, {run.loaded} loads",
                flush=True,
            )
    print(f"\n{arguments.points} points, {arguments.repetitions} fresh containers each")
    print(
        f"{'mode':<12} {'worker wall':>15} {'worker CPU':>15} {'docker run':>15} "
        f"{'compiled':>8} {'loaded':>6}"
    )
    print(f"{'':<12}" + " {:>7} {:>7}".format("min", "median") * 3)
    for mode, runs in results.items():
        print(_row(mode, runs))


if __name__ == "__main__":
    main()
