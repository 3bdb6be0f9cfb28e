"""What loading the code location costs, against ``import dagster``, in fresh processes.

Run from ``moderate/``: ``python -m benchmarks.definitions_load``.

Four peers run alternately, each in a new process, ``--repetitions`` times
(default 5), with the same environment (no service variables, so nothing
connects anywhere; ``DAGSTER_HOME`` holds the instance settings of ``task
dagster-dev``, ``deploy/dagster/dagster.yaml``: SQLite storage, telemetry off):

- ``import dagster``: ``python -c "import dagster"``, the floor every Dagster
  process pays;
- ``import moderate.definitions``: ``python -c "import moderate.definitions"``,
  what every code-server, run and step process pays on top of it;
- ``definitions validate``: ``dagster definitions validate -m
  moderate.definitions`` (import plus Dagster's own loading and checks);
- ``validate (empty Definitions)``: the same command on a module holding only
  ``Definitions()``, the floor of the command itself.

The table gives CPU seconds (user + system) and wall seconds, min and median,
and each peer's CPU median ÷ that of ``import dagster``. Under it: the project's
share (the difference of CPU medians, validate - empty validate and import
``moderate.definitions`` - import ``dagster``) ÷ ``import dagster``, and the heavy
third-party modules ``import moderate.definitions`` loads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from benchmarks.processes import alternate, load_average, min_median, python

REPETITIONS = 5
BASELINE = "import dagster"
PROJECT_DIR = Path(__file__).resolve().parent.parent
INSTANCE_SETTINGS = PROJECT_DIR.parent / "deploy" / "dagster" / "dagster.yaml"
HEAVY_MODULES = (
    "dagster_k8s",
    "kubernetes",
    "pyarrow",
    "polars",
    "openpyxl",
    "boto3",
    "botocore",
    "pika",
    "sqlalchemy",
    "pandas",
    "numpy",
    "stumpy",
    "keycloak",
    "requests_toolbelt",
)
LOADED_PROBE = (
    "import json, sys, moderate.definitions; "
    "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))"
)


SHARES = {
    "validate - empty validate": (
        "definitions validate",
        "validate (empty Definitions)",
    ),
    "import moderate.definitions - import dagster": (
        "import moderate.definitions",
        BASELINE,
    ),
}
EMPTY_MODULE = "empty_definitions"
EMPTY_SOURCE = "from dagster import Definitions\n\ndefs = Definitions()\n"


def peers(empty_dir: str) -> dict[str, list[str]]:
    dagster = str(Path(python()).with_name("dagster"))
    return {
        BASELINE: [python(), "-c", "import dagster"],
        "import moderate.definitions": [python(), "-c", "import moderate.definitions"],
        "definitions validate": [
            dagster,
            "definitions",
            "validate",
            "-m",
            "moderate.definitions",
        ],
        "validate (empty Definitions)": [
            dagster,
            "definitions",
            "validate",
            "-d",
            empty_dir,
            "-m",
            EMPTY_MODULE,
        ],
    }


def environment(home: str) -> dict[str, str]:
    """A clean environment: PATH, HOME and a private DAGSTER_HOME only."""
    dagster_home = Path(home) / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(INSTANCE_SETTINGS.read_text())
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "DAGSTER_HOME": str(dagster_home),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    arguments = parser.parse_args()
    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="moderate-load-") as home:
        env = environment(home)
        (Path(home) / f"{EMPTY_MODULE}.py").write_text(EMPTY_SOURCE)
        commands = peers(home)
        # One untimed round fills the bytecode caches.
        alternate(commands, 1, env=env, cwd=str(PROJECT_DIR))
        results = alternate(
            commands, arguments.repetitions, env=env, cwd=str(PROJECT_DIR)
        )
        loaded = subprocess.run(
            [python(), "-c", LOADED_PROBE % (HEAVY_MODULES,)],
            env=env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
    base = min_median(results[BASELINE].cpu())[1]
    print(f"{arguments.repetitions} alternating runs each; ratios are of CPU medians")
    header = (
        f"{'peer':<28} {'CPU s min':>9} {'CPU s med':>9} {'wall s min':>10} "
        f"{'wall s med':>10} {'CPU ÷ dagster':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, samples in results.items():
        cpu_min, cpu_median = min_median(samples.cpu())
        wall_min, wall_median = min_median(samples.wall())
        print(
            f"{name:<28} {cpu_min:>9.2f} {cpu_median:>9.2f} {wall_min:>10.2f} "
            f"{wall_median:>10.2f} {cpu_median / base:>13.2f}"
        )
    medians = {name: min_median(samples.cpu())[1] for name, samples in results.items()}
    for share, (total, floor) in SHARES.items():
        more = medians[total] - medians[floor]
        print(
            f"project's share ({share}): {more:.2f} s CPU, ÷ dagster {more / base:.2f}"
        )
    heavy = json.loads(loaded.stdout.strip().splitlines()[-1])
    print(
        "heavy modules loaded by import moderate.definitions: "
        f"{', '.join(heavy) or 'none'}"
    )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
