"""The deploy scripts: style rules, and their behaviour in a scratch copy of the
repository with recording stand-ins for kubectl and helm on PATH."""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from moderate_tests.deployment.files import (
    DEPLOY_DIR,
    ENV_DEFAULT,
    REPO_ROOT,
    VALUES_TEMPLATES,
    example_variables,
    kubernetes_validate,
)

SCRIPTS = sorted(DEPLOY_DIR.rglob("*.sh"))
SOURCED_ONLY = {"lib.sh"}
USER_CODE_DEPLOYMENT = "deployment.apps/dagster-dagster-user-deployments-moderate"
SCRIPT_TIMEOUT_S = 120
# Short options of tools that have a long spelling for each of them.
SHORT_OPTION = re.compile(
    r"\b(?:rm|mkdir|cp|mv|ln|chmod|chown|grep|sed|curl|tr|cut|sort|tail|head|du"
    r"|kubectl|helm|docker)\b[^\n|;&]*?\s-[A-Za-z]"
)
DAGSTER_DEV_TIMEOUT_S = 240

# Records its arguments (one JSON list per line) and, for `patch`, its stdin.
FAKE_TOOL = """#!/usr/bin/env bash
set -euo pipefail
log_dir="${FAKE_LOG_DIR}"
python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" \
  >>"${log_dir}/$(basename "$0").log"
for argument in "$@"; do
  if [[ "${argument}" == "patch" ]]; then
    cat >"${log_dir}/patch.json"
  fi
  if [[ "${argument}" == *"=/dev/stdin" ]]; then
    cat >>"${log_dir}/stdin.log"
  fi
done
if [[ "${FAKE_SECRET_MISSING:-}" == "1" && "$*" == *"get secret"* ]]; then
  exit 1
fi
if [[ "$*" == "config current-context" ]]; then
  printf '%s\\n' "${FAKE_CONTEXT}"
fi
if [[ "$*" == *"get deployments --output=name"* ]]; then
  printf '%s\\n' "deployment.apps/dagster-daemon" "${FAKE_USER_CODE_DEPLOYMENT}"
fi
"""


def _strip_single_quoted(text: str) -> str:
    return re.sub(r"'[^'\n]*'", "''", text)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_scripts_follow_the_bash_rules(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    if script.name not in SOURCED_ONLY:
        assert "set -euo pipefail" in lines[:10]
        assert os.access(script, os.X_OK), "scripts are executable"
    syntax = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False
    )
    assert syntax.returncode == 0, syntax.stderr
    code = "\n".join(
        line
        for line in _strip_single_quoted(text).splitlines()
        if not line.lstrip().startswith("#")
    )
    unbraced = re.findall(r"\$[A-Za-z_][A-Za-z0-9_]*", code)
    assert not unbraced, f"use ${{name}}: {unbraced}"
    assert not re.search(r"(?:^|[\s;&|])\[(?=\s)", code), "use [[ ]]"
    short = [match.group(0) for match in SHORT_OPTION.finditer(code)]
    assert not short, f"use long options: {short}"


def test_shellcheck_finds_nothing() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "install shellcheck (.ci/setup.d/45-deploy.sh)"
    setup_dir = REPO_ROOT / ".ci" / "setup.d"
    scripts = [*SCRIPTS, setup_dir / "40-chromium.sh", setup_dir / "45-deploy.sh"]
    result = subprocess.run(
        [shellcheck, "--external-sources", *map(str, scripts)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """A copy of what the scripts read, so they never write into the checkout."""
    root = tmp_path / "repo"
    shutil.copytree(
        DEPLOY_DIR, root / "deploy", ignore=shutil.ignore_patterns("__pycache__")
    )
    for path in (ENV_DEFAULT, *VALUES_TEMPLATES):
        shutil.copy2(path, root / path.name)
    return root


@pytest.fixture
def fake_tools(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    (tmp_path / "logs").mkdir()
    bin_dir.mkdir()
    for tool in ("kubectl", "helm"):
        path = bin_dir / tool
        path.write_text(FAKE_TOOL, encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def run_script(
    script: Path, *arguments: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        check=False,
    )


def base_env(fake_tools: Path, **extra: str) -> dict[str, str]:
    logs = fake_tools.parent / "logs"
    return {
        "PATH": f"{fake_tools}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(fake_tools.parent),
        "FAKE_LOG_DIR": str(logs),
        "FAKE_CONTEXT": "minikube",
        "FAKE_USER_CODE_DEPLOYMENT": USER_CODE_DEPLOYMENT,
        "MAIN_IP_ADDRESS": "192.168.49.10",
        **extra,
    }


def calls(fake_tools: Path, tool: str) -> list[list[str]]:
    log = fake_tools.parent / "logs" / f"{tool}.log"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_token_update_patches_only_its_key_and_restarts_user_code(
    scratch_repo: Path, fake_tools: Path
) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.payload.signature"
    env = base_env(fake_tools, OPEN_METADATA_TOKEN=token)
    result = run_script(
        scratch_repo / "deploy" / "update-open-metadata-token.sh", env=env
    )
    assert result.returncode == 0, result.stderr
    kubectl = calls(fake_tools, "kubectl")
    assert all(token not in " ".join(call) for call in kubectl), "token in argv"
    patches = [call for call in kubectl if "patch" in call]
    (patch,) = patches
    assert patch[-4:] == [
        "secret",
        "dagster-secrets",
        "--type=json",
        "--patch-file=/dev/stdin",
    ]
    operations = json.loads((fake_tools.parent / "logs" / "patch.json").read_text())
    assert operations == [
        {
            "op": "add",
            "path": "/data/OPEN_METADATA_TOKEN",
            "value": base64.b64encode(token.encode()).decode(),
        }
    ]
    assert not [c for c in kubectl if "create" in c or "apply" in c or "delete" in c]
    restarts = [call for call in kubectl if "restart" in call]
    assert [call[-1] for call in restarts] == [USER_CODE_DEPLOYMENT]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"FAKE_CONTEXT": "production"}, "expected minikube"),
        ({}, "set OPEN_METADATA_TOKEN"),
    ],
)
def test_token_update_refuses_without_token_or_on_another_context(
    scratch_repo: Path, fake_tools: Path, extra: dict[str, str], message: str
) -> None:
    token = {"OPEN_METADATA_TOKEN": "t"} if extra else {}
    env = base_env(fake_tools, **token, **extra)
    result = run_script(
        scratch_repo / "deploy" / "update-open-metadata-token.sh", env=env
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert not [call for call in calls(fake_tools, "kubectl") if "patch" in call]


@pytest.mark.parametrize(
    ("chart", "expected"),
    [
        ("dagster", ["dagster", "dagster/dagster", "values-dagster.yaml"]),
        (
            "openmetadata",
            ["openmetadata", "open-metadata/openmetadata", "values-openmetadata.yaml"],
        ),
    ],
)
def test_helm_install_pins_version_and_passes_the_values_file(
    scratch_repo: Path, fake_tools: Path, chart: str, expected: list[str]
) -> None:
    release, chart_ref, values_name = expected
    (scratch_repo / values_name).write_text("{}\n")
    env = base_env(fake_tools)
    result = run_script(
        scratch_repo / "deploy" / "install-helm-chart.sh", chart, env=env
    )
    assert result.returncode == 0, result.stderr
    (upgrade,) = [call for call in calls(fake_tools, "helm") if call[0] == "upgrade"]
    versions = dict(
        line.split("=", 1)
        for line in (DEPLOY_DIR / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    version_key = (
        "DAGSTER_CHART_VERSION" if chart == "dagster" else "OPEN_METADATA_CHART_VERSION"
    )
    assert upgrade[1:3] == [release, chart_ref]
    assert f"--version={versions[version_key]}" in upgrade
    assert f"--values={scratch_repo / values_name}" in upgrade
    assert not [a for a in upgrade if a.startswith(("--set", "--reuse"))]


def test_secrets_env_file_holds_only_set_variables_privately(
    scratch_repo: Path, fake_tools: Path
) -> None:
    env = base_env(fake_tools, API_USERNAME="workflows", API_PASSWORD="pa ss=word#1")
    result = run_script(
        scratch_repo / "deploy" / "build-dagster-secrets-envfile.sh", env=env
    )
    assert result.returncode == 0, result.stderr
    output = scratch_repo / "dagster-secrets.env"
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    entries = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert entries["API_PASSWORD"] == "pa ss=word#1"
    assert entries["POSTGRES_HOST"] == "host.docker.internal"
    assert entries["KEYCLOAK_SERVER_URL"] == "http://host.docker.internal:8080"
    assert entries["MODERATE_AUTOMATION_DEFAULT_STATUS"] == "RUNNING"
    assert entries["MATRIX_PROFILE_LAUNCHER"] == "kubernetes"
    assert "OPEN_METADATA_TOKEN" not in entries
    assert "OPEN_METADATA_TOKEN" in result.stderr
    assert "pa ss" not in result.stderr


def test_dotenv_files_first_one_wins_and_values_are_literal(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(
        DEPLOY_DIR, root / "deploy", ignore=shutil.ignore_patterns("__pycache__")
    )
    marker = tmp_path / "evaluated"
    (root / ".env").write_text(f'MODERATE_REALM="mine"\nPROBE=$(touch {marker})\n')
    shutil.copy2(ENV_DEFAULT, root / ".env.default")
    script = (
        f'source "{root}/deploy/lib.sh"; load_env_files; '
        'printf "%s|%s|%s|%s" "${MODERATE_REALM}" "${POSTGRES_USER}" '
        '"${DAGSTER_CHART_VERSION}" "${PROBE}"'
    )
    result = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    realm, user, chart, probe = result.stdout.split("|")
    assert (realm, user) == ("mine", "postgres")
    assert chart and probe == f"$(touch {marker})"
    assert not marker.exists()


def test_key_pair_and_values_build_end_to_end(
    scratch_repo: Path, fake_tools: Path
) -> None:
    env = base_env(fake_tools)
    deploy = scratch_repo / "deploy"
    for script in ("gen-open-metadata-keypair.sh", "build-helm-values.sh"):
        result = run_script(deploy / script, env=env)
        assert result.returncode == 0, result.stderr
    private_key = scratch_repo / "om_privkey.der"
    public_key = scratch_repo / "om_pubkey.der"
    assert stat.S_IMODE(private_key.stat().st_mode) == 0o600
    assert not (scratch_repo / "om_privkey.pem").exists()
    for path, kind in ((private_key, "pkey"), (public_key, "pkey -pubin")):
        check = subprocess.run(
            ["openssl", *kind.split(), "-inform", "DER", "-in", str(path), "-noout"],
            capture_output=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr
    values = yaml.safe_load((scratch_repo / "values-openmetadata.yaml").read_text())
    key_id = hashlib.sha256(public_key.read_bytes()).hexdigest()[:32]
    assert values["openmetadata"]["config"]["jwtTokenConfiguration"]["keyId"] == key_id
    authority = values["openmetadata"]["config"]["authentication"]["authority"]
    assert authority == "http://192.168.49.10:8080/realms/moderate"
    dagster_values = scratch_repo / "values-dagster.yaml"
    assert stat.S_IMODE(dagster_values.stat().st_mode) == 0o600
    manifests = sorted((scratch_repo / "build" / "k8s").glob("*.yaml"))
    assert manifests
    validation = kubernetes_validate(*manifests)
    assert validation.returncode == 0, validation.stdout + validation.stderr
    again = run_script(deploy / "gen-open-metadata-keypair.sh", env=env)
    assert again.returncode == 0 and "keeping it" in again.stderr
    assert hashlib.sha256(public_key.read_bytes()).hexdigest()[:32] == key_id


@pytest.mark.parametrize(
    ("launcher", "runner_mode", "expected"),
    [
        (
            "kubernetes",
            "subprocess",
            {"run-worker-rbac.yaml", "run-worker-rbac-jobs.yaml"},
        ),
        ("subprocess", "subprocess", {"run-worker-rbac.yaml"}),
        (
            "subprocess",
            "kubernetes",
            {"run-worker-rbac.yaml", "run-worker-rbac-ingestion-jobs.yaml"},
        ),
    ],
)
def test_rbac_is_rendered_only_for_the_runner_modes_in_use(
    scratch_repo: Path,
    fake_tools: Path,
    launcher: str,
    runner_mode: str,
    expected: set[str],
) -> None:
    deploy = scratch_repo / "deploy"
    stale = scratch_repo / "build" / "k8s" / "run-worker-rbac-ingestion-jobs.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("stale", encoding="utf-8")
    env = base_env(
        fake_tools,
        MATRIX_PROFILE_LAUNCHER=launcher,
        OPEN_METADATA_RUNNER_MODE=runner_mode,
    )
    for script in ("gen-open-metadata-keypair.sh", "build-helm-values.sh"):
        result = run_script(deploy / script, env=env)
        assert result.returncode == 0, result.stderr
    rendered = {path.name for path in (scratch_repo / "build" / "k8s").glob("*.yaml")}
    assert rendered == expected


def test_secrets_never_pass_a_password_on_a_command_line(
    scratch_repo: Path, fake_tools: Path
) -> None:
    (scratch_repo / "dagster-secrets.env").write_text("A=b\n", encoding="utf-8")
    env = base_env(
        fake_tools,
        FAKE_SECRET_MISSING="1",
        DAGSTER_POSTGRES_PASSWORD="pw-on-stdin-only",
    )
    result = run_script(
        scratch_repo / "deploy" / "create-k8s-secrets.sh", "dagster", env=env
    )
    assert result.returncode == 0, result.stderr
    creations = [call for call in calls(fake_tools, "kubectl") if "create" in call]
    assert creations
    for call in creations:
        assert not any("pw-on-stdin-only" in argument for argument in call), call
        assert not any(argument.startswith("--from-literal") for argument in call)
    stdin = (fake_tools.parent / "logs" / "stdin.log").read_text(encoding="utf-8")
    assert "pw-on-stdin-only" in stdin


def test_dagster_dev_without_docker_serves_the_embedded_default(
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text("#!/usr/bin/env bash\nexit 1\n", encoding="utf-8")
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if k not in set(example_variables())},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "DAGSTER_HOME": str(tmp_path / "home"),
        "DAGSTER_DEV_PORT": str(port),
    }
    log = tmp_path / "dagster-dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["bash", str(DEPLOY_DIR / "dagster-dev.sh")],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + DAGSTER_DEV_TIMEOUT_S
            serving = False
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    serving = requests.get(
                        f"http://127.0.0.1:{port}/server_info", timeout=5
                    ).ok
                except requests.ConnectionError:
                    serving = False
                if serving:
                    break
                time.sleep(1)
            assert serving, log.read_text(errors="replace")[-3000:]
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
    output_text = log.read_text(errors="replace")
    assert "Docker is not available" in output_text
    # `dagster dev` warns that `dg dev` supersedes it; the script runs `dg dev`.
    assert "SupersessionWarning" not in output_text, output_text[-3000:]
    instance = (tmp_path / "home" / "dagster.yaml").read_text()
    assert instance == (DEPLOY_DIR / "dagster" / "dagster.yaml").read_text()
