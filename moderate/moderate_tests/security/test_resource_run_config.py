"""Run config cannot configure a resource: no host, image or path from the launchpad.

Dagster lists every resource field in the run-config schema, so without this
refusal a run config could point ``platform_api.base_url`` at another host, and
that host would receive the password the resource reads from the environment.
"""

import pytest
from dagster import DagsterInstance, ExecuteInProcessResult

from moderate.definitions import defs
from moderate.resources.settings import (
    RUN_CONFIGURABLE_FIELDS,
    EnvBackedResource,
    configured_resources,
)
from moderate_tests.doubles import API_ADMIN_PASSWORD, API_ADMIN_USERNAME
from moderate_tests.doubles.platform_api import PlatformApiDouble

REPOSITORY = defs.get_repository_def()
JOBS = REPOSITORY.get_all_jobs()
ENV_BACKED = sorted(
    key
    for key, resource in (defs.resources or {}).items()
    if isinstance(resource, EnvBackedResource)
)
DOCTOR_JOB = "doctor_job"
REJECTION_JOB = "matrix_profile_rejection_job"
REJECTION_CONFIG = {
    "ops": {
        "reject_matrix_profile_request": {
            "config": {"workflow_job_id": 7, "reason": "bad request"}
        }
    }
}


def _string_fields(job_name: str) -> dict[str, str]:
    """Resource key to its first text field that run config may not set."""
    schema = defs.resolve_job_def(job_name).run_config_schema.config_type
    resources = schema.fields["resources"].config_type.fields
    first: dict[str, str] = {}
    for key, field in resources.items():
        config = (field.config_type.fields or {}).get("config")
        fields = getattr(config.config_type, "fields", None) if config else None
        for name, inner in (fields or {}).items():
            allowed = RUN_CONFIGURABLE_FIELDS.get(key, frozenset())
            if "String" in inner.config_type.key and name not in allowed:
                first[key] = name
                break
    return first


DOCTOR_FIELDS = _string_fields(DOCTOR_JOB)
OTHER_PLACE = "elsewhere.example"


def test_only_resource_config_is_counted() -> None:
    assert configured_resources({}) == ()
    assert configured_resources({"ops": {"a": {"config": {"x": 1}}}}) == ()
    assert configured_resources({"resources": {"s3": {"config": {}}}}) == ()
    database = {"config": {"database": "moderate_state_test"}}
    assert configured_resources({"resources": {"state_store": database}}) == ()
    sqlite = {"config": {"database": "x", "sqlite_path": "/etc/x"}}
    assert configured_resources({"resources": {"state_store": sqlite}}) == (
        "state_store",
    )
    assert configured_resources(
        {"resources": {"s3": {"config": {"a": 1}}, "postgres": {"config": {"b": 2}}}}
    ) == ("postgres", "s3")


def _failure_messages(result: ExecuteInProcessResult) -> list[str]:
    errors = [
        getattr(event.event_specific_data, "error", None) for event in result.all_events
    ]
    return [str(error) for error in errors if error is not None]


def test_every_job_sets_up_a_resource_that_refuses_run_config() -> None:
    for job in JOBS:
        required = set(job.get_required_resource_defs())
        assert required & set(ENV_BACKED), job.name


def test_a_run_config_host_never_receives_the_password(
    monkeypatch: pytest.MonkeyPatch, platform_api: PlatformApiDouble
) -> None:
    monkeypatch.setenv("API_BASE_URL", platform_api.url)
    monkeypatch.setenv("API_USERNAME", API_ADMIN_USERNAME)
    monkeypatch.setenv("API_PASSWORD", API_ADMIN_PASSWORD)
    with PlatformApiDouble() as other_host:
        run_config = {
            **REJECTION_CONFIG,
            "resources": {"platform_api": {"config": {"base_url": other_host.url}}},
        }
        result = defs.resolve_job_def(REJECTION_JOB).execute_in_process(
            run_config=run_config,
            instance=DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
        assert not result.success
        assert other_host.requests == []
    assert any("may not configure resources" in m for m in _failure_messages(result))


def test_every_resource_with_settings_is_checked() -> None:
    assert set(ENV_BACKED) <= set(DOCTOR_FIELDS) | {"matrix_profile"}
    assert "matrix_profile" in DOCTOR_FIELDS and "state_store" in DOCTOR_FIELDS


@pytest.mark.parametrize("key", sorted(DOCTOR_FIELDS))
def test_configuring_any_resource_refuses_the_run(key: str) -> None:
    field = DOCTOR_FIELDS[key]
    result = defs.resolve_job_def(DOCTOR_JOB).execute_in_process(
        run_config={"resources": {key: {"config": {field: OTHER_PLACE}}}},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    messages = _failure_messages(result)
    assert any(f"may not configure resources ({key})" in m for m in messages)
