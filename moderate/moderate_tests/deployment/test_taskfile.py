"""Taskfile.yml parses with go-task, lists every task with a description, and its
commands follow the operating rules (pinned helm calls, no piped installers)."""

import os
import re
import subprocess
from typing import Any

import pytest
import yaml

from moderate_tests.deployment.files import DEPLOY_DIR, REPO_ROOT, TASK_BIN

TASKFILE = REPO_ROOT / "Taskfile.yml"
# go-task colours its output whenever CI is set; the assertions read plain text.
PLAIN_OUTPUT_ENV = {**os.environ, "NO_COLOR": "1"}
CONTRACT_TASKS = (
    "dagster-dev",
    "start-dev-k8s",
    "forward-k8s-dagster-ui",
    "forward-k8s-open-metadata-ui",
    "update-k8s-open-metadata-token",
    "force-restart-k8s-dagster",
    "clean",
)
DEVELOPER_TASKS = ("test", "lint", "format", "build-image")
PIPED_INSTALLER = re.compile(r"\b(curl|wget)\b[^\n|]*\|\s*(sudo\s+)?(ba|z|da)?sh\b")


@pytest.fixture(scope="module")
def taskfile() -> dict[str, Any]:
    return yaml.safe_load(TASKFILE.read_text(encoding="utf-8"))


def operational_texts() -> dict[str, str]:
    files = [TASKFILE, REPO_ROOT / "Dockerfile", *DEPLOY_DIR.rglob("*.sh")]
    return {str(path.relative_to(REPO_ROOT)): path.read_text() for path in files}


def test_task_list_shows_every_task_with_its_description(
    taskfile: dict[str, Any],
) -> None:
    result = subprocess.run(
        [str(TASK_BIN), "--taskfile", str(TASKFILE), "--list"],
        cwd=REPO_ROOT,
        env=PLAIN_OUTPUT_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^\* ([\w-]+):\s+(.+)$", line)
        if match:
            listed[match.group(1)] = match.group(2).strip()
    for name in (*CONTRACT_TASKS, *DEVELOPER_TASKS):
        assert name in listed, f"{name} missing from task --list"
    for name, task in taskfile["tasks"].items():
        assert task.get("desc"), f"{name} has no desc"
        assert listed.get(name) == task["desc"], name


def test_settings_files_are_loaded_in_order(taskfile: dict[str, Any]) -> None:
    assert taskfile["version"] == "3"
    assert taskfile["dotenv"] == [".env", ".env.default", "deploy/versions.env"]
    assert (REPO_ROOT / ".env.default").is_file()


def test_start_dev_k8s_runs_the_whole_path_in_order(taskfile: dict[str, Any]) -> None:
    steps = [
        step["task"] if isinstance(step, dict) else step
        for step in taskfile["tasks"]["start-dev-k8s"]["cmds"]
    ]
    assert steps[:5] == [
        "minikube-start",
        "push-code-image",
        "compose-up",
        "install-helm-dagster",
        "install-helm-open-metadata",
    ]
    assert "wait-k8s-pods.sh" in steps[-1]


def test_no_remote_installer_is_piped_into_a_shell() -> None:
    assert PIPED_INSTALLER.search("curl -sSL https://x | bash")
    for name, text in operational_texts().items():
        assert not PIPED_INSTALLER.search(text), name


def test_every_helm_call_pins_chart_version_and_values_file() -> None:
    calls = []
    for name, text in operational_texts().items():
        assert "--reuse-values" not in text, name
        joined = text.replace("\\\n", " ")
        for line in joined.splitlines():
            if re.search(r"\bhelm\s+(upgrade|install)\b", line):
                calls.append((name, line))
    assert calls, "no helm install/upgrade found"
    for name, line in calls:
        assert "--version=" in line and "--values=" in line, f"{name}: {line}"


def test_no_fixed_sleeps() -> None:
    for name, text in operational_texts().items():
        assert not re.search(r"\bsleep\s+\d", text), name


def test_start_dev_k8s_dry_run_orders_each_step_once() -> None:
    result = subprocess.run(
        [str(TASK_BIN), "--taskfile", str(TASKFILE), "--dry", "start-dev-k8s"],
        cwd=REPO_ROOT,
        env=PLAIN_OUTPUT_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    steps = re.findall(r"^task: \[([\w-]+)\]", result.stderr + result.stdout, re.M)
    assert steps.count("gen-open-metadata-keypair") == 1
    assert steps.count("build-helm-values") == 1
    order = [
        "minikube-start",
        "push-code-image",
        "compose-up",
        "build-dagster-secrets-envfile",
        "create-dagster-secrets",
        "gen-open-metadata-keypair",
        "build-helm-values",
        "apply-k8s-manifests",
        "install-helm-dagster",
        "create-open-metadata-secrets",
        "install-helm-open-metadata",
    ]
    assert [step for step in steps if step in order] == order
    assert steps[-1] == "start-dev-k8s"
