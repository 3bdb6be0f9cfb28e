from pathlib import Path

import pytest
from dagster import DagsterInvalidConfigError, Failure, validate_run_config

from moderate.openmetadata.config import (
    DEFAULT_IMAGE,
    IMAGE_ALLOWLIST_VARIABLE,
    IMAGE_VARIABLE,
    RunnerConfig,
)
from moderate.openmetadata.jobs import postgres_ingestion_job
from moderate.openmetadata.runners import KubernetesWorkflowRunner

ALLOWED = ("registry.example.org/moderate-openmetadata-ingestion",)


@pytest.mark.parametrize(
    "field", [{"image": "evil:latest"}, {"python": "/bin/sh"}, {"environment_dir": "/"}]
)
def test_run_config_cannot_choose_the_image_or_interpreter(field):
    config = {"ops": {"discover_postgres_databases": {"config": {"runner": field}}}}
    with pytest.raises(DagsterInvalidConfigError):
        validate_run_config(postgres_ingestion_job, config)


def test_kubernetes_runner_takes_the_deployment_image(monkeypatch):
    monkeypatch.setenv(IMAGE_VARIABLE, f"{ALLOWED[0]}:2.0.6.0")
    monkeypatch.setenv(IMAGE_ALLOWLIST_VARIABLE, ALLOWED[0])
    runner = RunnerConfig(mode="kubernetes").build()
    assert isinstance(runner, KubernetesWorkflowRunner)
    assert runner.image == f"{ALLOWED[0]}:2.0.6.0"
    assert runner.python == "/opt/ingestion/.venv/bin/python"


def test_a_deployment_image_outside_the_allow_list_fails_in_one_line(monkeypatch):
    monkeypatch.setenv(IMAGE_VARIABLE, "docker.io/attacker/ingestion:1")
    monkeypatch.delenv(IMAGE_ALLOWLIST_VARIABLE, raising=False)
    with pytest.raises(Failure) as raised:
        RunnerConfig(mode="kubernetes").build()
    assert "not allow-listed" in raised.value.description
    assert "\n" not in raised.value.description


def test_default_settings_allow_only_the_default_image(monkeypatch):
    monkeypatch.delenv(IMAGE_VARIABLE, raising=False)
    monkeypatch.delenv(IMAGE_ALLOWLIST_VARIABLE, raising=False)
    assert RunnerConfig(mode="kubernetes").build().image == DEFAULT_IMAGE
    monkeypatch.setenv(IMAGE_VARIABLE, f"{ALLOWED[0]}:2.0.6.0")
    with pytest.raises(Failure, match="not allow-listed"):
        RunnerConfig(mode="kubernetes").build()
    assert isinstance(RunnerConfig().build().python, Path)
