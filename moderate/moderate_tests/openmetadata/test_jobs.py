import tempfile

import pytest
import sqlalchemy as sa
from dagster import AssetKey, DefaultScheduleStatus

from moderate.openmetadata.config import REPOSITORY_ENVIRONMENT
from moderate.openmetadata.definitions import defs
from moderate.openmetadata.jobs import (
    DEFAULT_MAX_CONCURRENT_ITEMS,
    datalake_ingestion_job,
    postgres_ingestion_job,
)
from moderate.openmetadata.naming import (
    datalake_service_name,
    postgres_service_name,
)
from moderate.openmetadata.schedules import (
    DEFAULT_CRON,
    POSTGRES_CRON_VARIABLE,
    ingestion_schedule,
)
from moderate.resources import OpenMetadataResource, PostgresResource, S3Resource
from moderate.resources.definitions import build_resources
from moderate_tests.support.postgres import HOST, PASSWORD, PORT, USERNAME
from moderate_tests.support.secrets import resource_with_secrets


def test_jobs_and_schedules_are_defined_with_contract_names():
    jobs = {job.name for job in defs.jobs}
    assert jobs == {"postgres_ingestion_job", "datalake_ingestion_job"}
    schedules = {schedule.name: schedule for schedule in defs.schedules}
    assert set(schedules) == {
        "postgres_ingestion_job_schedule",
        "datalake_ingestion_job_schedule",
    }
    for schedule in schedules.values():
        assert schedule.cron_schedule == DEFAULT_CRON == "0 0,12 * * *"
        assert schedule.execution_timezone == "UTC"
        assert schedule.default_status == DefaultScheduleStatus.STOPPED
    for job in (postgres_ingestion_job, datalake_ingestion_job):
        assert job.description
        assert job.tags["moderate/feature"] == "openmetadata"


def test_concurrency_bound_is_run_configuration():
    assert DEFAULT_MAX_CONCURRENT_ITEMS == 2
    for job in (postgres_ingestion_job, datalake_ingestion_job):
        assert job.executor_def.name == "multiprocess"
        assert job.run_config == {"execution": {"config": {"max_concurrent": 2}}}


def test_schedule_cron_and_status_come_from_settings(monkeypatch):
    monkeypatch.setenv(POSTGRES_CRON_VARIABLE, "30 3 * * 1")
    monkeypatch.setenv("MODERATE_AUTOMATION_DEFAULT_STATUS", "RUNNING")
    schedule = ingestion_schedule(postgres_ingestion_job, POSTGRES_CRON_VARIABLE)
    assert schedule.cron_schedule == "30 3 * * 1"
    assert schedule.default_status == DefaultScheduleStatus.RUNNING


def test_invalid_cron_names_the_variable(monkeypatch):
    monkeypatch.setenv(POSTGRES_CRON_VARIABLE, "every noon")
    with pytest.raises(ValueError, match=POSTGRES_CRON_VARIABLE):
        ingestion_schedule(postgres_ingestion_job, POSTGRES_CRON_VARIABLE)


@pytest.mark.parametrize(
    ("job", "missing"),
    [
        (
            postgres_ingestion_job,
            ["OPEN_METADATA_HOST", "OPEN_METADATA_TOKEN", "POSTGRES_HOST"],
        ),
        (
            datalake_ingestion_job,
            ["OPEN_METADATA_HOST", "OPEN_METADATA_TOKEN", "S3_ACCESS_KEY_ID"],
        ),
    ],
)
def test_launch_without_openmetadata_fails_fast_naming_variables(job, missing):
    result = job.execute_in_process(resources=build_resources(), raise_on_error=False)
    assert not result.success
    failures = [event for event in result.all_events if event.is_step_failure]
    assert len(failures) == 1
    message = failures[0].step_failure_data.error.to_string()
    assert "OpenMetadata ingestion is not configured" in message
    for variable in missing:
        assert variable in message
    assert failures[0].step_key.startswith("discover_")


@pytest.fixture
def isolated_tmp(tmp_path, monkeypatch):
    """Temporary files of the runner and Pipes go here, to check they are removed."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _openmetadata(om_server):
    return resource_with_secrets(
        OpenMetadataResource,
        {"token": om_server.double.token},
        host=f"http://{om_server.host}",
        port=str(om_server.port),
    )


def _states(double, pipeline_fqn):
    return [
        status["pipelineState"]
        for status in double.pipeline_statuses[pipeline_fqn].values()
    ]


def test_postgres_job_ingests_selected_database_end_to_end(
    om_server, postgres, postgres_database, isolated_tmp
):
    with postgres.engine(postgres_database).begin() as connection:
        connection.execute(
            sa.text("CREATE TABLE meters (id int PRIMARY KEY, kwh float)")
        )
        connection.execute(sa.text("INSERT INTO meters VALUES (1, 2.5), (2, 3.5)"))
    with (
        postgres.engine(postgres_database)
        .connect()
        .execution_options(isolation_level="AUTOCOMMIT") as connection
    ):
        # The profiler reads row counts from the planner statistics.
        connection.execute(sa.text("ANALYZE meters"))
    postgres.dispose()
    resources = {
        **build_resources(),
        "postgres": resource_with_secrets(
            PostgresResource,
            {"password": PASSWORD},
            host=HOST,
            port=PORT,
            username=USERNAME,
        ),
        "openmetadata": _openmetadata(om_server),
        "s3": S3Resource(),
    }
    run_config = {
        "ops": {
            "discover_postgres_databases": {
                "config": {
                    "include_patterns": [postgres_database],
                    "runner": {"environment_dir": str(REPOSITORY_ENVIRONMENT)},
                }
            }
        }
    }

    result = postgres_ingestion_job.execute_in_process(
        run_config=run_config, resources=resources
    )

    assert result.success
    collected = result.output_for_node("collect_postgres_ingestion")
    service = postgres_service_name(postgres_database)
    assert [(r.name, r.service_name) for r in collected] == [
        (postgres_database, service)
    ]
    assert collected[0].statuses == {"metadata": "success", "profiler": "success"}
    [materialization] = result.asset_materializations_for_node(
        "collect_postgres_ingestion"
    )
    assert materialization.asset_key.path == ["openmetadata_catalog"]
    assert materialization.metadata["source"].value == "postgres"
    assert materialization.metadata["services"].value == [
        postgres_service_name(postgres_database)
    ]
    double = om_server.double
    table = f"{service}.{postgres_database}.public.meters"
    assert table in double.names("tables")
    assert double.by_fqn("tables", table)["profile"]["rowCount"] == 2
    assert set(double.pipeline_statuses) == {
        f"{service}.metadata",
        f"{service}.profiler",
    }
    materialized = [
        event.event_specific_data.metadata
        for event in result.all_events
        if event.event_type_value == "STEP_OUTPUT"
        and event.step_key.startswith("run_postgres_metadata")
    ]
    assert materialized[0]["metadata.status"].value == "success"


def test_datalake_job_ingests_selected_prefix_end_to_end(om_server, s3, isolated_tmp):
    client = s3.client()
    bucket = s3.data_lake_bucket
    client.put_object(
        Bucket=bucket, Key="alice-assets/meters.csv", Body=b"id,kwh\n1,2.5\n2,3.5\n"
    )
    client.put_object(Bucket=bucket, Key="bob-assets/other.csv", Body=b"a,b\n1,2\n")
    resources = {
        **build_resources(),
        "openmetadata": _openmetadata(om_server),
        "s3": s3,
    }
    run_config = {
        "ops": {
            "discover_datalake_prefixes": {
                "config": {
                    "include_patterns": ["alice-*"],
                    "runner": {"environment_dir": str(REPOSITORY_ENVIRONMENT)},
                }
            }
        }
    }

    result = datalake_ingestion_job.execute_in_process(
        run_config=run_config, resources=resources
    )

    assert result.success
    service = datalake_service_name("alice-assets/")
    collected = result.output_for_node("collect_datalake_ingestion")
    assert [(r.name, r.statuses) for r in collected] == [
        ("alice-assets/", {"metadata": "success", "profiler": "success"})
    ]
    [materialization] = result.asset_materializations_for_node(
        "collect_datalake_ingestion"
    )
    assert materialization.metadata["source"].value == "datalake"
    assert materialization.metadata["services"].value == [service]
    double = om_server.double
    assert double.names("services/databaseServices") == [service]
    # Tables are named by their full object key (the Platform API looks them up so).
    table = f'{service}.default.{bucket}."alice-assets/meters.csv"'
    assert double.names("tables") == [table]
    assert double.by_fqn("tables", table)["profile"]["rowCount"] == 2
    assert _states(double, f"{service}.metadata") == ["success"]
    assert _states(double, f"{service}.profiler") == ["success"]
    assert all(r.authorization == f"Bearer {double.token}" for r in double.requests)
    assert list(isolated_tmp.iterdir()) == []


def test_server_on_another_line_fails_discovery_naming_both_versions(om_server, s3):
    om_server.double.version = "1.5.15"
    resources = {
        **build_resources(),
        "openmetadata": _openmetadata(om_server),
        "s3": s3,
    }
    run_config = {
        "ops": {
            "discover_datalake_prefixes": {
                "config": {"runner": {"environment_dir": str(REPOSITORY_ENVIRONMENT)}}
            }
        }
    }

    result = datalake_ingestion_job.execute_in_process(
        run_config=run_config, resources=resources, raise_on_error=False
    )

    assert not result.success
    failures = [event for event in result.all_events if event.is_step_failure]
    assert [event.step_key for event in failures] == ["discover_datalake_prefixes"]
    message = failures[0].step_failure_data.user_failure_data.description
    assert "OpenMetadata server 1.5.15 and openmetadata-ingestion 2.0.6.0" in message
    assert om_server.double.names("services/databaseServices") == []


def test_code_location_serves_the_jobs_and_schedules():
    from moderate.definitions import defs as location

    graph = location.resolve_asset_graph()
    assert graph.get(AssetKey("openmetadata_catalog")).group_name == "openmetadata"
    repository = location.get_repository_def()
    assert repository.has_job("postgres_ingestion_job")
    assert repository.has_job("datalake_ingestion_job")
    assert repository.has_schedule_def("postgres_ingestion_job_schedule")
    assert repository.has_schedule_def("datalake_ingestion_job_schedule")


def test_failed_workflow_fails_its_step_with_the_workflow_error(
    om_server, postgres_database
):
    # A server without the connector's test-connection definition makes the
    # metadata workflow itself fail.
    definitions = om_server.double.entities["services/testConnectionDefinitions"]
    del definitions["Postgres.testConnectionDefinition"]
    resources = {
        **build_resources(),
        "postgres": resource_with_secrets(
            PostgresResource,
            {"password": PASSWORD},
            host=HOST,
            port=PORT,
            username=USERNAME,
        ),
        "openmetadata": _openmetadata(om_server),
    }
    run_config = {
        "ops": {
            "discover_postgres_databases": {
                "config": {
                    "include_patterns": [postgres_database],
                    "runner": {"environment_dir": str(REPOSITORY_ENVIRONMENT)},
                }
            }
        }
    }

    result = postgres_ingestion_job.execute_in_process(
        run_config=run_config, resources=resources, raise_on_error=False
    )

    assert not result.success
    failures = [event for event in result.all_events if event.is_step_failure]
    assert len(failures) == 1
    assert failures[0].step_key.startswith("run_postgres_metadata[")
    failure = failures[0].step_failure_data.user_failure_data
    service = postgres_service_name(postgres_database)
    assert failure.description.startswith(f"{service}.metadata: ")
    assert "Postgres.testConnectionDefinition" in failure.description
    assert failure.metadata["status"].value == "failed"
    started = {event.step_key for event in result.all_events if event.is_step_start}
    assert "collect_postgres_ingestion" not in started
    assert not [key for key in started if key.startswith("run_postgres_profiler")]
