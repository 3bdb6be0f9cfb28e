from dagster import (
    AssetCheckResult,
    AssetKey,
    DagsterInstance,
    Definitions,
    MaterializeResult,
    asset,
    asset_check,
    build_sensor_context,
    define_asset_job,
)

from moderate.openmetadata.lineage import (
    Cursor,
    object_table_fqn,
    openmetadata_lineage_sensor,
)
from moderate.openmetadata.naming import DAGSTER_SERVICE_NAME, datalake_service_name
from moderate.resources import OpenMetadataResource, S3Resource
from moderate_tests.support.secrets import resource_with_secrets

BUCKET = "lake"
UPLOADED = "ann-assets/building_stock/part-0.parquet"
REPORT = "ann-assets/reports/job-7.html"


@asset(name="platform_asset_building_stock")
def published() -> MaterializeResult:
    return MaterializeResult(
        metadata={"moderate/object_keys": [UPLOADED, "ann-assets/not-catalogued.csv"]}
    )


@asset_check(asset=published, name="rows_present")
def rows_present() -> AssetCheckResult:
    return AssetCheckResult(passed=False, description="0 rows")


@asset(key=AssetKey("matrix_profile_reports"))
def reports() -> MaterializeResult:
    return MaterializeResult(
        metadata={"moderate/report_key": REPORT, "moderate/workflow_job_id": 7}
    )


@asset(name="unrelated")
def unrelated() -> MaterializeResult:
    return MaterializeResult(metadata={"moderate/object_keys": [UPLOADED]})


DEFS = Definitions(
    assets=[published, reports, unrelated],
    asset_checks=[rows_present],
    jobs=[
        define_asset_job("datasets_job", selection=["platform_asset_building_stock"]),
        define_asset_job("matrix_profile_job", selection=["matrix_profile_reports"]),
        define_asset_job("other_job", selection=["unrelated"]),
    ],
)


def _catalogue(double):
    double.create_or_update("services/pipelineServices", {"name": DAGSTER_SERVICE_NAME})
    pipelines = {}
    for job in ("datasets_job", "matrix_profile_job"):
        _, pipelines[job] = double.create_or_update(
            "pipelines",
            {"name": f"id{job}", "displayName": job, "service": DAGSTER_SERVICE_NAME},
        )
    service = datalake_service_name("ann-assets/")
    double.create_or_update("services/databaseServices", {"name": service})
    double.create_or_update("databases", {"name": "default", "service": service})
    double.create_or_update(
        "databaseSchemas", {"name": BUCKET, "database": f"{service}.default"}
    )
    tables = {}
    for key in (UPLOADED, REPORT):
        _, tables[key] = double.create_or_update(
            "tables", {"name": key, "databaseSchema": f"{service}.default.{BUCKET}"}
        )
    return pipelines, tables


def test_runs_become_lineage_edges_and_checks_test_results(om_server):
    double = om_server.double
    pipelines, tables = _catalogue(double)
    assert tables[UPLOADED]["fullyQualifiedName"] == object_table_fqn(BUCKET, UPLOADED)
    instance = DagsterInstance.ephemeral()
    for job in ("datasets_job", "matrix_profile_job", "other_job"):
        assert DEFS.resolve_job_def(job).execute_in_process(instance=instance).success
    resources = {
        "openmetadata": resource_with_secrets(
            OpenMetadataResource,
            {"token": double.token},
            host=f"http://{om_server.host}",
            port=str(om_server.port),
        ),
        "s3": resource_with_secrets(
            S3Resource,
            {"secret_access_key": "s"},
            access_key_id="k",
            bucket_name=BUCKET,
            region="r",
        ),
    }

    def tick(cursor):
        with build_sensor_context(
            instance=instance,
            resources=resources,
            repository_def=DEFS.get_repository_def(),
            cursor=cursor,
        ) as context:
            return openmetadata_lineage_sensor(context)

    first = tick(None)

    assert set(double.lineage) == {
        (pipelines["datasets_job"]["id"], tables[UPLOADED]["id"]),
        (pipelines["matrix_profile_job"]["id"], tables[REPORT]["id"]),
    }
    case = f"{tables[UPLOADED]['fullyQualifiedName']}.dagster_rows_present"
    [result] = double.test_case_results[case]
    assert result["testCaseStatus"] == "Failed"
    assert result["result"] == "0 rows"
    assert double.by_fqn("tables", tables[UPLOADED]["fullyQualifiedName"])["testSuite"]
    cursor = Cursor.parse(first.cursor)
    assert cursor.materialization > 0
    assert list(cursor.checks) == ["platform_asset_building_stock:rows_present"]

    edges_before = len(double.requests)
    second = tick(first.cursor)
    assert second.cursor == first.cursor
    assert not [r for r in double.requests[edges_before:] if r.method != "GET"]


def test_unconfigured_sensor_skips_naming_variables():
    with build_sensor_context(
        resources={"openmetadata": OpenMetadataResource(), "s3": S3Resource()},
        repository_def=DEFS.get_repository_def(),
    ) as context:
        skipped = openmetadata_lineage_sensor(context)
    assert "OPEN_METADATA_HOST" in skipped.skip_message


def test_a_bad_cursor_starts_over():
    assert Cursor.parse("not json") == Cursor()
    assert Cursor.parse(
        Cursor(materialization=5, checks={"a:b": 2}).model_dump_json()
    ) == Cursor(materialization=5, checks={"a:b": 2})
