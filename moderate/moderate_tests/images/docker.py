"""The Docker engine of the image tests and the three images they build.

The engine is the one ``.ci/setup.d/50-docker.sh`` starts (its own socket and
data root); the base images are the locally made equivalents of the public
ones that the Dockerfile names, passed as build arguments.
"""

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DOCKER_CLI = "/usr/bin/docker"
DEFAULT_SOCKET = "unix:///run/moderate-docker/docker.sock"
SOCKET_ENV = "MODERATE_DOCKER_HOST"
BUILD_ARGS = {
    "PYTHON_IMAGE": "moderate-local/python:3.11-bookworm",
    "UV_IMAGE": "moderate-local/uv:0.13.8",
}
TARGETS = ("code-server", "matrix-profile-worker", "ingestion")
TAG_PREFIX = "moderate-test"
BUILD_TIMEOUT_S = 1800
RUN_USER = "10001:10001"
# vfs copies the whole image for each new container: minutes on a busy disk.
CONTAINER_TIMEOUT_S = 900


def docker_env() -> dict[str, str]:
    """Environment of the docker client: the test engine, BuildKit on."""
    return {
        **os.environ,
        "DOCKER_HOST": os.environ.get(SOCKET_ENV, DEFAULT_SOCKET),
        "DOCKER_BUILDKIT": "1",
    }


def docker(
    *arguments: str, timeout_s: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Runs the docker client; output is captured as text."""
    result = subprocess.run(
        [DOCKER_CLI, *arguments],
        env=docker_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(arguments[:3])} … failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def engine_problem() -> str | None:
    """Why the engine cannot be used, or None when it answers."""
    if not Path(DOCKER_CLI).exists():
        return (
            f"{DOCKER_CLI} missing: run .ci/setup.d/50-docker.sh (installs docker.io)"
        )
    result = docker("version", "--format", "{{.Server.Version}}", check=False)
    if result.returncode != 0:
        return (
            f"the Docker engine at {docker_env()['DOCKER_HOST']} does not answer "
            f"(start it with .ci/setup.d/50-docker.sh): {result.stderr.strip()[-500:]}"
        )
    for base in BUILD_ARGS.values():
        if docker("image", "inspect", base, check=False).returncode != 0:
            return f"base image {base} missing: run .ci/setup.d/50-docker.sh"
    return None


@dataclass(frozen=True)
class BuiltImage:
    """One built target.

    Attributes:
        target: Dockerfile target.
        tag: Local tag of the image.
        build_s: Wall-clock seconds of its build (from cache when fast).
        size_bytes: Image size reported by the engine.
    """

    target: str
    tag: str
    build_s: float
    size_bytes: int


def build(target: str) -> BuiltImage:
    """Builds one Dockerfile target with the local base images."""
    tag = f"{TAG_PREFIX}/{target}:latest"
    arguments: list[str] = ["build", "--network=host", "--target", target]
    for name, value in BUILD_ARGS.items():
        arguments += ["--build-arg", f"{name}={value}"]
    started = time.perf_counter()
    docker(*arguments, "--tag", tag, str(REPO_ROOT), timeout_s=BUILD_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    size = int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout)
    return BuiltImage(target=target, tag=tag, build_s=elapsed, size_bytes=size)


def paths_in_container(name: str, paths: Sequence[str]) -> dict[str, bool]:
    """Which of ``paths`` exist inside a running container."""
    script = "; ".join(f'test -e "{path}" && echo "{path}"' for path in paths)
    result = docker("exec", name, "/bin/sh", "-c", script + "; true")
    present = set(result.stdout.split())
    return {path: path in present for path in paths}
