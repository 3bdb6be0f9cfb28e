"""Paths and parsers shared by the deployment tests."""

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
PROJECT_DIR = REPO_ROOT / "moderate"
DEPLOY_DIR = REPO_ROOT / "deploy"
RENDERER = DEPLOY_DIR / "render_template.py"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
ENV_DEFAULT = REPO_ROOT / ".env.default"
VERSIONS_ENV = DEPLOY_DIR / "versions.env"
TASK_BIN = PROJECT_DIR / ".venv" / "bin" / "task"
KUBERNETES_VALIDATE_BIN = PROJECT_DIR / ".venv" / "bin" / "kubernetes-validate"
KUBERNETES_VERSION = "1.33.0"
VALUES_TEMPLATES = (
    REPO_ROOT / "values-dagster.yaml.template",
    REPO_ROOT / "values-openmetadata.yaml.template",
)
MANIFEST_TEMPLATES = tuple(sorted((DEPLOY_DIR / "k8s").glob("*.yaml.template")))

_ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def dotenv_values(path: Path) -> dict[str, str]:
    """Uncommented ``NAME=value`` lines of a dotenv file."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _ASSIGNMENT.match(line)
        if match and match.group(1) is None:
            values[match.group(2)] = match.group(3)
    return values


def example_variables() -> list[str]:
    """Every variable that .env.example lists (commented-out assignments)."""
    names = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            names.append(match.group(2))
    return names


def sample_env() -> dict[str, str]:
    """A complete sample environment: defaults plus values for everything else."""
    env = {**dotenv_values(VERSIONS_ENV), **dotenv_values(ENV_DEFAULT)}
    env.update(
        {
            "MAIN_IP_ADDRESS": "192.168.49.10",
            "KEYCLOAK_URL": "http://192.168.49.10:8080",
            "OPEN_METADATA_ROOT_URL": "http://192.168.49.10:8585",
            "ELASTIC_HOST": "host.docker.internal",
            "ELASTIC_PORT": "9200",
            "OPEN_METADATA_POSTGRES_HOST": "host.docker.internal",
            "OPEN_METADATA_POSTGRES_PORT": "5432",
            "OPEN_METADATA_POSTGRES_USER": "postgres",
            "OPEN_METADATA_JWT_KEY_ID": "3f1c2b9a7d6e5f4a3b2c1d0e9f8a7b6c",
            "DAGSTER_POSTGRES_HOST": "host.docker.internal",
            "DAGSTER_POSTGRES_PORT": "5432",
            "DAGSTER_POSTGRES_USER": 'dag"ster\\user',
            "DAGSTER_POSTGRES_DB": "dagster",
            "MODERATE_AUTOMATION_DEFAULT_STATUS": "RUNNING",
            "MATRIX_PROFILE_LAUNCHER": "kubernetes",
            "MATRIX_PROFILE_IMAGE_ALLOWLIST": env["MATRIX_PROFILE_JOB_IMAGE"],
        }
    )
    return env


def render(template: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Runs the deploy renderer on a template with exactly ``env``."""
    return subprocess.run(
        [sys.executable, str(RENDERER), str(template)],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def render_yaml_documents(template: Path, env: Mapping[str, str]) -> list[dict]:
    """Renders a template and parses every YAML document in it."""
    result = render(template, env)
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def kubernetes_validate(*manifests: Path) -> subprocess.CompletedProcess[str]:
    """Validates manifests against the Kubernetes schemas, strictly."""
    return subprocess.run(
        [
            str(KUBERNETES_VALIDATE_BIN),
            "--kubernetes-version",
            KUBERNETES_VERSION,
            "--strict",
            *map(str, manifests),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
