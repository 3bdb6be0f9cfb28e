"""Costs of the OpenMetadata ingestion plumbing.

Prints: configuration building per workflow, service naming per prefix, and the
fixed cost of one workflow process (interpreter start, imports of the ingestion
package, model validation) measured with ``run_workflow.py validate``.

Run from ``moderate/``: ``python -m benchmarks.openmetadata_runner``.
"""

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from moderate.openmetadata.config import (
    REPOSITORY_ENVIRONMENT,
    RUNNER_SCRIPT,
    VENV_PYTHON,
)
from moderate.openmetadata.naming import datalake_service_name
from moderate.openmetadata.versions import line_keys
from moderate.openmetadata.workflows import (
    DatalakeSource,
    PostgresSource,
    ServerSettings,
    WorkflowKind,
    workflow_request,
)

BUILD_ROUNDS = 20_000
PROCESS_ROUNDS = 3
SERVER = ServerSettings(host_port="http://localhost:8585/api")
LINE = line_keys("2.0")


def per_call_us(function, rounds: int) -> float:
    started = time.perf_counter()
    for index in range(rounds):
        function(index)
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    pg = PostgresSource(host="localhost", port=5432, username="u", database="db")
    lake = DatalakeSource(bucket="b", prefix="p/", region="r", endpoint_url=None)
    cases = {
        "postgres metadata config": lambda i: workflow_request(
            WorkflowKind.METADATA, pg, f"s{i}", SERVER, LINE
        ),
        "datalake profiler config": lambda i: workflow_request(
            WorkflowKind.PROFILER, lake, f"s{i}", SERVER, LINE
        ),
        "datalake service name": lambda i: datalake_service_name(f"user{i}-assets/"),
    }
    for label, function in cases.items():
        print(f"{label}: {per_call_us(function, BUILD_ROUNDS):.1f} us")
    python = REPOSITORY_ENVIRONMENT / VENV_PYTHON
    if not python.exists():
        print(f"ingestion environment missing at {python}: process cost not measured")
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_text(
            json.dumps(
                workflow_request(WorkflowKind.METADATA, pg, "svc", SERVER, LINE).config
            )
        )
        env = {
            "PATH": os.environ.get("PATH", ""),
            "OPEN_METADATA_TOKEN": "t",
            "POSTGRES_PASSWORD": "p",
        }
        timings = []
        for _ in range(PROCESS_ROUNDS):
            started = time.perf_counter()
            subprocess.run(
                [
                    str(python),
                    str(REPOSITORY_ENVIRONMENT / RUNNER_SCRIPT),
                    "validate",
                    str(path),
                ],
                env=env,
                capture_output=True,
                check=True,
                timeout=300,
            )
            timings.append(time.perf_counter() - started)
    median = statistics.median(timings)
    print(
        f"workflow process start + validation: median {median:.2f} s, "
        f"min {min(timings):.2f} s over {PROCESS_ROUNDS} runs"
    )


if __name__ == "__main__":
    main()
