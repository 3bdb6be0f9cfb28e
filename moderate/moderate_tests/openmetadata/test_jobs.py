import os
import subprocess
import sys
import tempfile

import pytest
import sqlalchemy as sa
from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultScheduleStatus,
    build_schedule_context,
    materialize,
)

from moderate.openmetadata.definitions import defs
from moderate.openmetadata.jobs import (
    DEFAULT_CRON,
    DEFAULT_MAX_CONCURRENT_ITEMS,
    POSTGRES_CRON_VARIABLE,
    datalake_ingestion_job,
    ingestion_schedule,
    postgres_ingestion_job,
)
from moderate.openmetadata.naming import (
    datalake_service_name,
    postgres_service_name,
)
from moderate.openmetadata.steps import openmetadata_postgres_database
from moderate.resources import (
    OpenMetadataResource,
    PostgresResource,
    S3Resource,
    build_resources,
)
from moderate.support.cron import invalid_cron_variables
from moderate_tests.openmetadata.s3_proxy import recording_proxy
from moderate_tests.support.postgres import HOST, PASSWORD, PORT, USERNAME
from moderate_tests.support.secrets import resource_with_secrets


def test_jobs_and_schedules_are_defined_with_contract_names():
    jobs = {job.name for job in defs.jobs}
    assert jobs == {
        "postgres_ingestion_job",
        "datalake_ingestion_job",
        "postgres_partitions_ingestion_job",
        "datalake_partitions_ingestion_job",
        "dagster_pipelines_ingestion_job",
    }
    schedules = {schedule.name: schedule for schedule in defs.schedules}
    assert set(schedules) == {
        "postgres_ingestion_job_schedule",
        "datalake_ingestion_job_schedule",
        "dagster_pipelines_ingestion_job_schedule",
    }
    for name in ("postgres_ingestion_job_schedule", "datalake_ingestion_job_schedule"):
        assert schedules[name].cron_schedule == DEFAULT_CRON == "0 0,12 * * *"
    for schedule in schedules.values():
        assert schedule.execution_timezone == "UTC"
        assert schedule.default_status == DefaultScheduleStatus.STOPPED
        assert schedule.tags["moderate/feature"] == "openmetadata"
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


def _tick(schedule, **resources):
    with build_schedule_context(resources=resources) as context:
        result = schedule.evaluate_tick(context)
    return list(result.run_requests or []), result.skip_message


def test_invalid_cron_is_reported_by_the_schedule_and_the_location_loads(monkeypatch):
    monkeypatch.setenv(POSTGRES_CRON_VARIABLE, "every noon")
    problems = invalid_cron_variables()
    assert problems == [
        "MODERATE_OPENMETADATA_POSTGRES_CRON='every noon' is not a valid cron "
        "expression"
    ]
    schedule = ingestion_schedule(
        postgres_ingestion_job, POSTGRES_CRON_VARIABLE, ("openmetadata", "postgres")
    )
    assert problems[0] in schedule.description
    requests, skipped = _tick(
        schedule, openmetadata=OpenMetadataResource(), postgres=PostgresResource()
    )
    assert requests == []
    assert problems[0] in skipped
    # The whole code location still loads in a fresh interpreter.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import moderate.definitions as d; "
            "d.defs.get_repository_def(); print('loaded')",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, POSTGRES_CRON_VARIABLE: "every noon"},
        timeout=240,
        check=False,
    )
    assert loaded.stdout.strip().endswith("loaded"), loaded.stderr[-2000:]


def test_schedules_skip_naming_missing_variables_and_run_when_configured(om_server):
    schedule = ingestion_schedule(
        datalake_ingestion_job,
        "MODERATE_OPENMETADATA_DATALAKE_CRON",
        ("openmetadata", "s3"),
    )
    requests, skipped = _tick(
        schedule, openmetadata=OpenMetadataResource(), s3=S3Resource()
    )
    assert requests == []
    assert skipped.startswith("datalake_ingestion_job is not configured: set ")
    assert "OPEN_METADATA_HOST" in skipped and "S3_ACCESS_KEY_ID" in skipped
    configured = resource_with_secrets(
        S3Resource,
        {"secret_access_key": "s"},
        access_key_id="k",
        bucket_name="b",
        region="r",
    )
    requests, skipped = _tick(
        schedule, openmetadata=_openmetadata(om_server), s3=configured
    )
    assert skipped is None
    assert [request.tags["moderate/feature"] for request in requests] == [
        "openmetadata"
    ]


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
    message = failures[0].step_failure_data.user_failure_data.description
    assert "\n" not in message
    assert message.startswith("OpenMetadata ingestion is not configured: set ")
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


SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "pg_toast")


def _live(double, collection):
    return sorted(
        fqn
        for fqn, entity in double.entities.get(collection, {}).items()
        if not entity["deleted"]
    )


def _edges(double, collection_from, from_fqn, collection_to, to_fqn):
    source = double.by_fqn(collection_from, from_fqn)
    target = double.by_fqn(collection_to, to_fqn)
    return (source["id"], target["id"]) in double.lineage


REAL_WORKFLOWS_TIMEOUT_S = 600
"""Six (Postgres) and eight (data lake) workflow processes of about 10 s each on
an idle machine; far more on a loaded 2-core one."""


@pytest.mark.timeout(REAL_WORKFLOWS_TIMEOUT_S)
def test_postgres_catalogue_skips_system_schemas_marks_drops_and_has_lineage(
    om_server, postgres, postgres_database, isolated_tmp
):
    with postgres.engine(postgres_database).begin() as connection:
        for statement in (
            "CREATE SCHEMA hr",
            "CREATE TABLE hr.staff (id int PRIMARY KEY, name text)",
            "CREATE TABLE meters (id int PRIMARY KEY, kwh float, "
            "staff_id int REFERENCES hr.staff (id))",
            "INSERT INTO hr.staff VALUES (1, 'a')",
            "INSERT INTO meters VALUES (1, 2.5, 1), (2, 3.5, 1)",
            "CREATE VIEW meter_totals AS SELECT staff_id, sum(kwh) AS kwh "
            "FROM meters GROUP BY staff_id",
        ):
            connection.execute(sa.text(statement))
    with (
        postgres.engine(postgres_database)
        .connect()
        .execution_options(isolation_level="AUTOCOMMIT") as connection
    ):
        # The profiler reads row counts from the planner statistics.
        connection.execute(sa.text("ANALYZE"))
    postgres.dispose()
    double = om_server.double
    gone = postgres_service_name("dropped_database")
    double.create_or_update("services/databaseServices", {"name": gone})
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
                "config": {"include_patterns": [postgres_database]}
            }
        }
    }
    instance = DagsterInstance.ephemeral()

    result = postgres_ingestion_job.execute_in_process(
        run_config=run_config, resources=resources, instance=instance
    )

    assert result.success
    collected = result.output_for_node("collect_postgres_ingestion")
    service = postgres_service_name(postgres_database)
    assert [(r.name, r.service_name) for r in collected] == [
        (postgres_database, service)
    ]
    assert collected[0].statuses == {
        "metadata": "success",
        "lineage": "success",
        "profiler": "success",
    }
    [catalog] = result.asset_materializations_for_node("collect_postgres_ingestion")
    assert catalog.asset_key.path == ["openmetadata_catalog"]
    assert catalog.metadata["services"].value == [service]
    database = f"{service}.{postgres_database}"
    tables = _live(double, "tables")
    assert tables == [
        f"{database}.hr.staff",
        f"{database}.public.meter_totals",
        f"{database}.public.meters",
    ]
    for collection in ("databaseSchemas", "tables", "storedProcedures"):
        assert not [
            fqn
            for fqn in double.names(collection)
            if any(f".{schema}" in fqn for schema in SYSTEM_SCHEMAS)
        ], collection
    meters = double.by_fqn("tables", f"{database}.public.meters")
    [foreign_key] = [
        c
        for c in meters.get("tableConstraints") or []
        if c["constraintType"] == "FOREIGN_KEY"
    ]
    assert foreign_key["referredColumns"] == [f"{database}.hr.staff.id"]
    assert _edges(
        double,
        "tables",
        f"{database}.public.meters",
        "tables",
        f"{database}.public.meter_totals",
    )
    assert meters["profile"]["rowCount"] == 2
    assert double.by_fqn("tables", f"{database}.public.meter_totals")["profile"]
    assert double.by_fqn("services/databaseServices", gone)["deleted"] is True
    assert instance.get_dynamic_partitions("openmetadata_postgres_databases") == [
        postgres_database
    ]
    assert set(double.pipeline_statuses) == {
        f"{service}.metadata",
        f"{service}.lineage",
        f"{service}.profiler",
    }

    # A backfill of that one partition does the real work: the dropped schema
    # and its table are marked deleted.
    with postgres.engine(postgres_database).begin() as connection:
        connection.execute(sa.text("DROP SCHEMA hr CASCADE"))
    postgres.dispose()
    backfill = materialize(
        [openmetadata_postgres_database],
        partition_key=postgres_database,
        resources=resources,
        instance=instance,
    )
    assert backfill.success
    assert double.by_fqn("databaseSchemas", f"{database}.hr")["deleted"] is True
    assert double.by_fqn("tables", f"{database}.hr.staff")["deleted"] is True
    assert double.by_fqn("tables", f"{database}.public.meters")["deleted"] is False


PREFIX_KEYS = {
    "ann-assets/": ["ann-assets/meters.csv", "ann-assets/deep/more.csv"],
    "joann-assets/": ["joann-assets/meters.csv"],
    "Ann-assets/": ["Ann-assets/meters.csv"],
    "assets/": ["assets/meters.csv"],
}


@pytest.mark.timeout(REAL_WORKFLOWS_TIMEOUT_S)
def test_datalake_services_are_one_per_prefix_and_list_only_it(
    om_server, s3, isolated_tmp
):
    client = s3.client()
    bucket = s3.data_lake_bucket
    for keys in PREFIX_KEYS.values():
        for key in keys:
            client.put_object(Bucket=bucket, Key=key, Body=b"id,kwh\n1,2.5\n2,3.5\n")
    double = om_server.double
    double.create_or_update("users", {"name": "ann", "email": "ann@example.org"})
    gone = datalake_service_name("gone-assets/")
    double.create_or_update("services/databaseServices", {"name": gone})
    with recording_proxy(s3.setting("endpoint_url")) as (proxy_url, recorded):
        proxied = resource_with_secrets(
            S3Resource,
            {"secret_access_key": s3.required_setting("secret_access_key")},
            **{**s3.model_dump(exclude_none=True), "endpoint_url": proxy_url},
        )
        resources = {
            **build_resources(),
            "openmetadata": _openmetadata(om_server),
            "s3": proxied,
        }
        result = datalake_ingestion_job.execute_in_process(
            run_config={}, resources=resources
        )
        listings = recorded.listings(bucket)

    assert result.success
    services = {prefix: datalake_service_name(prefix) for prefix in PREFIX_KEYS}
    assert _live(double, "services/databaseServices") == sorted(services.values())
    assert double.by_fqn("services/databaseServices", gone)["deleted"] is True
    expected = sorted(
        f'{services[prefix]}.default.{bucket}."{key}"'
        for prefix, keys in PREFIX_KEYS.items()
        for key in keys
    )
    assert _live(double, "tables") == expected
    # Every object listing names exactly one prefix, except discovery's folder
    # listing and the connection test (first page of the bucket, not catalogued).
    by_prefix = {}
    for query in listings:
        prefix = (query.get("prefix") or [""])[0]
        by_prefix[prefix] = by_prefix.get(prefix, 0) + 1
    print("listing calls by prefix:", by_prefix)
    assert {p for p in by_prefix if p} == set(PREFIX_KEYS)
    unprefixed = [q for q in listings if not (q.get("prefix") or [""])[0]]
    assert all(
        q.get("delimiter") == ["/"] or "list-type" not in q for q in unprefixed
    ), unprefixed
    owners = {
        fqn: [
            owner["name"]
            for owner in (double.by_fqn("tables", fqn) or {}).get("owners") or []
        ]
        for fqn in expected
    }
    for fqn, names in owners.items():
        assert names == (["ann"] if '."ann-assets/' in fqn else []), fqn
    assert all(
        double.by_fqn("tables", fqn).get("profile", {}).get("rowCount") == 2
        for fqn in expected
    )
    assert all(r.authorization == f"Bearer {double.token}" for r in double.requests)
    assert list(isolated_tmp.iterdir()) == []


def test_server_on_another_line_fails_discovery_naming_both_versions(om_server, s3):
    om_server.double.version = "1.5.15"
    resources = {
        **build_resources(),
        "openmetadata": _openmetadata(om_server),
        "s3": s3,
    }
    run_config = {"ops": {"discover_datalake_prefixes": {"config": {}}}}

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
