"""Runs the worker image as ``kubernetes_launcher.build_job`` describes its Job.

The Job's container is translated to ``docker run`` flag by flag: its command
and arguments, its environment, uid/gid, read-only root filesystem, dropped
capabilities, no privilege escalation, the ``/tmp`` scratch volume (a tmpfs)
and the CPU and memory limits. Input and report travel over HTTP on loopback,
as presigned URLs would.
"""

import http.server
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from moderate.matrix_profile.kubernetes_launcher import (
    WorkerJobSpec,
    build_job,
    build_secret,
)
from moderate.matrix_profile.launcher import WorkerRequest
from moderate_tests.images.docker import DOCKER_CLI, docker_env
from moderate_tests.support.ports import LOOPBACK

POINTS_PER_DAY = 96
PERIOD = pd.Timedelta(minutes=15)
INPUT_PATH = "/input.csv"
REPORT_PATH = "/report.html"
VARIABLE = "power"
RUN_TIMEOUT_S = 900
NUMBA_SAVED = re.compile(r"\[cache\] (?:index|data) saved to")
NUMBA_LOADED = re.compile(r"\[cache\] data loaded from")
_QUANTITY = re.compile(r"^(\d+)(Mi|Gi)?$")


def make_csv(points: int, seed: int = 0) -> bytes:
    """A 15-minute series with a daily cycle, noise, one spike and one gap."""
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.arange(points) / POINTS_PER_DAY
    values = 20 + 6 * np.sin(phase) + rng.normal(0, 0.3, points)
    values[points // 2 : points // 2 + 12] += 9
    stamps = pd.date_range("2020-01-01", periods=points, freq=PERIOD)
    frame = pd.DataFrame(
        {"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), VARIABLE: values}
    )
    frame = frame.drop(index=range(points // 4, points // 4 + 3))
    return frame.to_csv(index=False).encode()


@dataclass
class _Store:
    csv: bytes
    reports: list[bytes] = field(default_factory=list)


@contextmanager
def serve_input(csv: bytes) -> Iterator[tuple[str, _Store]]:
    """GET of the input and PUT of the report on a loopback port."""
    store = _Store(csv=csv)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != INPUT_PATH:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(store.csv)))
            self.send_header("Content-Type", "text/csv")
            self.end_headers()
            self.wfile.write(store.csv)

        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if self.path != REPORT_PATH:
                self.send_error(403)
                return
            store.reports.append(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}", store
    finally:
        server.shutdown()
        server.server_close()


def job_spec(image: str) -> WorkerJobSpec:
    """The cluster settings of the analysis Job (sizes as deployed)."""
    return WorkerJobSpec(
        image=image,
        namespace="moderate",
        active_deadline_s=RUN_TIMEOUT_S,
        ttl_seconds_after_finished=600,
        cpu_request="1",
        cpu_limit="2",
        memory_request="1Gi",
        memory_limit="2Gi",
        scratch_size_limit="1Gi",
        run_as_user=10001,
    )


def _bytes(quantity: str) -> int:
    match = _QUANTITY.match(quantity)
    assert match, f"unsupported quantity {quantity}"
    scale = {"Mi": 2**20, "Gi": 2**30, None: 1}[match.group(2)]
    return int(match.group(1)) * scale


def docker_run_arguments(
    request: WorkerRequest,
    spec: WorkerJobSpec,
    extra_env: dict[str, str],
    pipes_env: dict[str, str],
) -> tuple[list[str], dict[str, str]]:
    """``docker run`` arguments equivalent to the Job's Pod.

    Returns:
        The arguments, and the values of the Secret-backed variables: docker
        reads those from its own environment by name, so no URL is on its
        command line (as none is in the Job spec).
    """
    job = build_job(request, spec, pipes_env)
    secret = build_secret(request, spec.namespace)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["allowPrivilegeEscalation"] is False
    (mount,) = container["volumeMounts"]
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"] and "emptyDir" in volume
    limits = container["resources"]["limits"]
    arguments = [
        "run",
        "--rm",
        "--network=host",
        "--read-only",
        f"--user={context['runAsUser']}:{context['runAsGroup']}",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        f"--tmpfs={mount['mountPath']}:rw,mode=1777,"
        f"size={_bytes(volume['emptyDir']['sizeLimit'])}",
        f"--cpus={limits['cpu']}",
        f"--memory={_bytes(limits['memory'])}",
    ]
    from_secret = {}
    for variable in container["env"]:
        if "valueFrom" in variable:
            reference = variable["valueFrom"]["secretKeyRef"]
            assert reference["name"] == secret["metadata"]["name"]
            from_secret[variable["name"]] = secret["stringData"][reference["key"]]
            arguments.append(f"--env={variable['name']}")
        else:
            arguments.append(f"--env={variable['name']}={variable['value']}")
    for name, value in extra_env.items():
        arguments.append(f"--env={name}={value}")
    command = list(container["command"])
    arguments += [f"--entrypoint={command[0]}", container["image"]]
    return arguments + command[1:] + list(container["args"]), from_secret


@dataclass(frozen=True)
class WorkerRun:
    """One container run of the worker.

    Attributes:
        exit_code: Container exit status.
        stdout: Its standard output.
        stderr: Its standard error.
        wall_s: Wall-clock seconds of ``docker run`` (container creation included).
        cpu_s: CPU seconds of the worker process (with ``measure_cpu``, else NaN).
        worker_wall_s: Wall-clock seconds of the worker process inside the
            container (with ``measure_cpu``, else NaN).
        compiled: numba cache saves (each one a compilation).
        loaded: numba cache loads.
        reports: Bodies PUT to the report URL.
    """

    exit_code: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    worker_wall_s: float
    compiled: int
    loaded: int
    reports: tuple[bytes, ...]


def run_worker(
    image: str,
    points: int,
    extra_env: dict[str, str],
    measure_cpu: bool = False,
    pipes_env: dict[str, str] | None = None,
) -> WorkerRun:
    """Runs one analysis of ``points`` points in a fresh worker container.

    With ``measure_cpu``, the worker runs as the child of a small Python probe
    that prints the child's CPU seconds on stderr (the Job itself has no probe).
    ``pipes_env`` is the Job's Dagster Pipes bootstrap (none: no Pipes session).
    """
    with serve_input(make_csv(points)) as (base, store):
        request = WorkerRequest(
            workflow_job_id=42,
            run_id="0123456789abcdef",
            analysis_variable=VARIABLE,
            input_url=base + INPUT_PATH,
            report_upload_url=base + REPORT_PATH,
            timeout_s=RUN_TIMEOUT_S,
        )
        arguments, from_secret = docker_run_arguments(
            request,
            job_spec(image),
            {"NUMBA_DEBUG_CACHE": "1", **extra_env},
            pipes_env or {},
        )
        if measure_cpu:
            arguments = _with_cpu_probe(arguments)
        started = time.perf_counter()
        result = subprocess.run(
            [DOCKER_CLI, *arguments],
            env={**docker_env(), **from_secret},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        wall = time.perf_counter() - started
        reports = tuple(store.reports)
    output = result.stdout + result.stderr
    return WorkerRun(
        exit_code=result.returncode,
        stdout=result.stdout,
        stderr=result.stderr,
        wall_s=wall,
        cpu_s=_probed(result.stderr, CPU_PREFIX),
        worker_wall_s=_probed(result.stderr, WALL_PREFIX),
        compiled=len(NUMBA_SAVED.findall(output)),
        loaded=len(NUMBA_LOADED.findall(output)),
        reports=reports,
    )


CPU_PREFIX = "moderate-cpu-seconds: "
WALL_PREFIX = "moderate-wall-seconds: "
_CPU_PROBE = (
    "import resource, subprocess, sys, time\n"
    "started = time.perf_counter()\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "wall = time.perf_counter() - started\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    f"print('{CPU_PREFIX}' + str(usage.ru_utime + usage.ru_stime), file=sys.stderr)\n"
    f"print('{WALL_PREFIX}' + str(wall), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _with_cpu_probe(arguments: list[str]) -> list[str]:
    entry = next(i for i, a in enumerate(arguments) if a.startswith("--entrypoint="))
    command = arguments[entry].partition("=")[2]
    image, rest = arguments[entry + 1], arguments[entry + 2 :]
    return [
        *arguments[:entry],
        f"--entrypoint={command}",
        image,
        "-c",
        _CPU_PROBE,
        command,
        *rest,
    ]


def _probed(stderr: str, prefix: str) -> float:
    for line in reversed(stderr.splitlines()):
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return float("nan")
