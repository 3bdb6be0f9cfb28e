"""The Dockerfile, checked statically (no Docker engine here) and by running its
code-server command and health check from the project's environment."""

import os
import re
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from moderate_tests.deployment.files import DEPLOY_DIR, PROJECT_DIR, REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
FINAL_TARGETS = ("ingestion", "matrix-profile-worker", "code-server")
PINNED_IMAGE = re.compile(
    r"^[a-z0-9.-]+(?::\d+)?(?:/[a-z0-9._-]+)*(?::[A-Za-z0-9._-]+)?(?:@sha256:[0-9a-f]{64})?$"
)
SERVER_START_TIMEOUT_S = 90


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, keyword: str) -> list[str]:
        return [value for name, value in self.instructions if name == keyword]


def global_arguments() -> dict[str, str]:
    """The ``ARG NAME=default`` lines before the first stage."""
    arguments: dict[str, str] = {}
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.upper().startswith("FROM "):
            break
        if line.upper().startswith("ARG "):
            name, _, default = line[len("ARG ") :].partition("=")
            arguments[name.strip()] = default.strip()
    return arguments


def parse_stages() -> list[Stage]:
    """The stages, with base images as built without build arguments."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    defaults = global_arguments()
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            continue
        if keyword == "FROM":
            match = re.match(r"(\S+)\s+AS\s+(\S+)", value, re.IGNORECASE)
            assert match, f"every stage must be named: {line}"
            base = re.sub(
                r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], match.group(1)
            )
            stages.append(Stage(name=match.group(2), base=base))
        else:
            stages[-1].instructions.append((keyword, " ".join(value.split())))
    return stages


def stage_chain(stages: list[Stage], name: str) -> list[Stage]:
    by_name = {stage.name: stage for stage in stages}
    chain = [by_name[name]]
    while chain[-1].base in by_name:
        chain.append(by_name[chain[-1].base])
    return chain


def test_every_base_image_is_pinned() -> None:
    stages = parse_stages()
    names = {stage.name for stage in stages}
    external = [stage.base for stage in stages if stage.base not in names]
    assert external
    for image in external:
        assert PINNED_IMAGE.match(image), image
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag or "@sha256:" in image, f"{image} has no tag or digest"
        assert not tag.startswith(("latest", "main")), image


def test_multi_stage_with_the_code_server_as_default_target() -> None:
    stages = parse_stages()
    assert len(stages) >= 3
    assert stages[-1].name == "code-server"
    assert {stage.name for stage in stages} >= set(FINAL_TARGETS)


def test_dependencies_are_installed_from_the_lock_before_the_sources() -> None:
    (builder,) = [stage for stage in parse_stages() if stage.name == "builder"]
    steps = [f"{name} {value}" for name, value in builder.instructions]
    lock_copy = next(i for i, s in enumerate(steps) if "moderate/uv.lock" in s)
    deps_sync = next(
        i
        for i, s in enumerate(steps)
        if "uv sync --locked" in s and "--no-install-project" in s
    )
    sources_copy = next(i for i, s in enumerate(steps) if "COPY moderate/moderate" in s)
    assert lock_copy < deps_sync < sources_copy
    assert all("--locked" in s for s in steps if "uv sync" in s)
    assert all("--no-dev" in s for s in steps if "uv sync" in s)
    assert any("--mount=type=cache" in s for s in steps if "uv sync" in s)


@pytest.mark.parametrize("target", FINAL_TARGETS)
def test_targets_run_as_a_non_root_user(target: str) -> None:
    (stage,) = [stage for stage in parse_stages() if stage.name == target]
    users = stage.arguments("USER")
    assert users, f"{target} sets no USER"
    uid = users[-1].split(":")[0]
    assert uid not in {"0", "root"}
    last_user = max(
        i for i, (name, _) in enumerate(stage.instructions) if name == "USER"
    )
    later = [name for name, _ in stage.instructions[last_user:]]
    assert "RUN" not in later, "nothing may run as root after USER"


def test_code_server_health_check_entry_point_and_port() -> None:
    stages = parse_stages()
    (stage,) = [stage for stage in stages if stage.name == "code-server"]
    (healthcheck,) = stage.arguments("HEALTHCHECK")
    assert "grpc-health-check" in healthcheck
    assert "${DAGSTER_GRPC_PORT}" in healthcheck
    (command,) = stage.arguments("CMD")
    assert command.startswith('["dagster", "api", "grpc"')
    assert '"--module-name", "moderate.definitions"' in command
    environment = " ".join(stage.arguments("ENV"))
    assert "DAGSTER_GRPC_PORT=3030" in environment
    assert "DAGSTER_GRPC_HOST=0.0.0.0" in environment
    assert stage.arguments("EXPOSE") == ["3030"]


def test_worker_target_runs_the_matrix_profile_worker() -> None:
    (stage,) = [s for s in parse_stages() if s.name == "matrix-profile-worker"]
    (entrypoint,) = stage.arguments("ENTRYPOINT")
    assert entrypoint == '["python", "-m", "moderate.matrix_profile.worker"]'
    assert (PROJECT_DIR / "moderate" / "matrix_profile" / "worker.py").exists() or (
        PROJECT_DIR / "moderate" / "matrix_profile" / "worker" / "__main__.py"
    ).exists(), "the worker module the image runs does not exist"


def test_base_images_are_build_arguments_defaulting_to_the_public_ones() -> None:
    assert global_arguments() == {
        "PYTHON_IMAGE": "python:3.11.14-slim-bookworm",
        "UV_IMAGE": "ghcr.io/astral-sh/uv:0.13.8",
    }
    first_line = DOCKERFILE.read_text(encoding="utf-8").splitlines()[0]
    assert not first_line.startswith("# syntax="), "the engine would pull a frontend"


def test_numba_cache_is_built_generic_and_only_the_worker_carries_it() -> None:
    stages = {stage.name: stage for stage in parse_stages()}
    cache_env = " ".join(stages["numba-cache"].arguments("ENV"))
    assert "NUMBA_CPU_NAME=generic" in cache_env
    assert "NUMBA_CACHE_DIR=/opt/numba-cache" in cache_env
    worker = stages["matrix-profile-worker"]
    assert "--from=numba-cache /opt/numba-cache /opt/numba-cache" in worker.arguments(
        "COPY"
    )
    worker_env = " ".join(worker.arguments("ENV"))
    assert "NUMBA_CPU_NAME=generic" in worker_env
    assert "MODERATE_NUMBA_CACHE_SEED=/opt/numba-cache" in worker_env
    code_copies = " ".join(stages["code-server"].arguments("COPY"))
    assert "numba-cache" not in code_copies
    assert not any("numba_cache" in run for run in stages["builder"].arguments("RUN"))


def test_tool_versions_match_the_scripts_and_the_project() -> None:
    (uv_stage,) = [s for s in parse_stages() if s.name == "uv"]
    uv_version = uv_stage.base.rsplit(":", 1)[1]
    dev_script = (DEPLOY_DIR / "dagster-dev.sh").read_text(encoding="utf-8")
    assert f'uv_version="{uv_version}"' in dev_script
    python_version = (PROJECT_DIR / ".python-version").read_text().strip()
    for stage in parse_stages():
        if stage.base.startswith("python:"):
            assert stage.base.startswith(f"python:{python_version}."), stage.base


def test_build_context_admits_exactly_what_is_copied() -> None:
    ignore_lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore_lines if line.startswith("!")}
    assert "**" in ignore_lines, "the context must start from nothing"
    for stage in parse_stages():
        for copy in stage.arguments("COPY"):
            if copy.startswith("--from="):
                continue
            *sources, _ = copy.split()
            for source in sources:
                assert source.rstrip("/") in allowed, source


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_code_server_command_serves_and_passes_its_health_check(
    tmp_path: Path,
) -> None:
    (stage,) = [s for s in parse_stages() if s.name == "code-server"]
    command = [part.strip('" ') for part in stage.arguments("CMD")[0][1:-1].split(",")]
    healthcheck = stage.arguments("HEALTHCHECK")[0].split(" CMD ", 1)[1]
    port = str(_free_port())
    env = {
        **os.environ,
        "PATH": f"{PROJECT_DIR / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "DAGSTER_HOME": str(tmp_path),
        "DAGSTER_GRPC_HOST": "127.0.0.1",
        "DAGSTER_GRPC_PORT": port,
    }
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    health_command = shlex.split(healthcheck.replace("${DAGSTER_GRPC_PORT}", port))
    server = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        healthy = False
        while time.monotonic() < deadline and server.poll() is None:
            check = subprocess.run(
                health_command, env=env, capture_output=True, timeout=60, check=False
            )
            if check.returncode == 0:
                healthy = True
                break
            time.sleep(1)
        assert healthy, server.stderr.read().decode() if server.poll() else "timeout"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_ingestion_environment_is_built_from_its_lock_and_bundled() -> None:
    stages = {stage.name: stage for stage in parse_stages()}
    builder = stages["ingestion-builder"]
    steps = [f"{name} {value}" for name, value in builder.instructions]
    assert any("openmetadata-ingestion/uv.lock" in step for step in steps)
    assert any("uv sync --locked" in step for step in steps)
    assert "UV_PROJECT_ENVIRONMENT=/opt/ingestion/.venv" in " ".join(
        builder.arguments("ENV")
    )
    bundled = "--from=ingestion-builder /opt/ingestion /opt/ingestion"
    for target in ("ingestion", "code-server"):
        assert bundled in stages[target].arguments("COPY"), target
    assert bundled not in stages["matrix-profile-worker"].arguments("COPY")
