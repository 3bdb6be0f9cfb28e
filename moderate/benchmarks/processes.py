"""Timing fresh child processes: CPU seconds, wall seconds and each one's peak RSS.

Every sample is one new process, waited for with ``os.wait4`` so that its CPU
time is its own. Its peak resident set is NOT taken from ``ru_maxrss``: Linux
carries the high-water mark across ``fork`` + ``exec``, so a child's
``ru_maxrss`` is at least the parent's size at the fork. A child that reports
memory prints ``own_peak_rss_bytes()`` (``VmHWM`` of its own address space,
which ``exec`` starts afresh) instead. Peers are run alternately (A B A B ...),
so a change in the machine's load hits all of them alike; the tables give min
and median, and ratios against a peer measured in the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

KIB = 1024
MIB = 1024 * 1024
CHILD_TIMEOUT_S = 3600


@dataclass(frozen=True)
class Sample:
    wall_s: float
    cpu_s: float
    output: str = ""


@dataclass
class Samples:
    name: str
    runs: list[Sample] = field(default_factory=list)

    def cpu(self) -> list[float]:
        return [run.cpu_s for run in self.runs]

    def wall(self) -> list[float]:
        return [run.wall_s for run in self.runs]

    def reported(self, key: str) -> list[float]:
        """A number each run printed as ``key`` in its last (JSON) stdout line."""
        return [
            float(json.loads(run.output.strip().splitlines()[-1])[key])
            for run in self.runs
        ]


class ChildFailedError(RuntimeError):
    pass


def run_child(
    command: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Sample:
    """Runs ``command`` to completion and measures that process alone."""
    # Output goes to files, not pipes: Popen.communicate() would reap the child
    # before os.wait4 could read its resource usage.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            list(command),
            env=None if env is None else dict(env),
            cwd=cwd,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise ChildFailedError(
            f"{' '.join(command)} exited {child.returncode}: "
            f"{errors.decode(errors='replace')[-2000:]}"
        )
    return Sample(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        output=output.decode(errors="replace"),
    )


def own_peak_rss_bytes() -> int:
    """Peak resident set of this process's own address space (``VmHWM``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * KIB
    raise RuntimeError("no VmHWM in /proc/self/status")


def alternate(
    peers: Mapping[str, Sequence[str]],
    repetitions: int,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> dict[str, Samples]:
    """Runs each peer ``repetitions`` times, interleaved A B C A B C ..."""
    results = {name: Samples(name) for name in peers}
    for _ in range(repetitions):
        for name, command in peers.items():
            results[name].runs.append(run_child(command, env=env, cwd=cwd))
    return results


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPU cores"


def min_median(values: Sequence[float]) -> tuple[float, float]:
    return min(values), statistics.median(values)


def python() -> str:
    return sys.executable
