"""The doctor says which state store is in use and which cron variables are invalid."""

from pathlib import Path

import pytest

from moderate.doctor.__main__ import main as doctor_main
from moderate.doctor.checks import (
    check_resources,
    failing,
    format_reports,
    schedules_report,
    store_report,
)
from moderate.resources import build_resources
from moderate_tests.support.postgres import HOST, PASSWORD, PORT, USERNAME


def _store_row(table: str) -> str:
    return next(line for line in table.splitlines() if line.startswith("state store"))


def test_sqlite_under_dagster_home_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    row = _store_row(format_reports(check_resources(build_resources())))
    assert "in use" in row
    assert f"sqlite at {tmp_path}" in row
    assert "PostgreSQL is not configured" in row


def test_postgres_store_is_named_without_secrets(monkeypatch: pytest.MonkeyPatch):
    for name, value in {
        "POSTGRES_HOST": HOST,
        "POSTGRES_PORT": str(PORT),
        "POSTGRES_USERNAME": USERNAME,
        "POSTGRES_PASSWORD": "s3cret-doctor",
    }.items():
        monkeypatch.setenv(name, value)
    report = store_report(build_resources()["state_store"])
    assert report.configured
    assert f"postgresql at {HOST}:{PORT}/" in report.detail
    assert "s3cret-doctor" not in report.detail
    assert PASSWORD not in report.detail or PASSWORD == USERNAME


def test_no_place_for_a_store_is_not_configured(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    report = store_report(build_resources()["state_store"])
    assert not report.configured
    assert "DAGSTER_HOME" in report.detail


def test_invalid_cron_variable_is_a_failing_row(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MODERATE_OPENMETADATA_POSTGRES_CRON", "every noon")
    monkeypatch.setenv("MODERATE_OPENMETADATA_DATALAKE_CRON", "0 3 * * *")
    report = schedules_report()
    assert failing(report)
    assert "MODERATE_OPENMETADATA_POSTGRES_CRON='every noon'" in report.detail
    assert "DATALAKE" not in report.detail
    assert doctor_main() == 1


def test_valid_cron_variables_pass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("MODERATE_OPENMETADATA_POSTGRES_CRON", "0 3 * * *")
    assert not failing(schedules_report())
    assert doctor_main() == 0
