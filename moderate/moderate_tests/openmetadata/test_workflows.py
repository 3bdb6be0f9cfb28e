import json
import os
import subprocess

import pytest

from moderate.openmetadata.versions import line_keys, line_of
from moderate.openmetadata.workflows import (
    DagsterSource,
    DatalakeSource,
    PostgresSource,
    ServerSettings,
    WorkflowKind,
    datalake_table_pattern,
    workflow_request,
)

METADATA = WorkflowKind.METADATA
PROFILER = WorkflowKind.PROFILER
SAMPLE = WorkflowKind.AUTO_CLASSIFICATION
LINEAGE = WorkflowKind.LINEAGE

SERVER = ServerSettings(host_port="https://om.example.org:8585/api")
PG = PostgresSource(
    host="db.internal", port=5433, username="reader", database="sales_db"
)
PG_SERVICE = "platform-postgres-sales-db"
LAKE = DatalakeSource(
    bucket="platform-api",
    prefix="alice.smith-assets/",
    region="eu-west-1",
    endpoint_url="https://storage.googleapis.com",
)
LAKE_SERVICE = "platform-datalake-alice-smith-assets-0123"
SYSTEM_SCHEMAS = [
    "^information_schema$",
    "^pg_catalog$",
    "^pg_toast.*$",
    "^pg_temp_.*$",
]
V20 = line_keys("2.0")
V15 = line_keys("1.5")
SECRET_ENV = {
    "OPEN_METADATA_TOKEN": "jwt-for-validation",
    "POSTGRES_PASSWORD": "pw-for-validation",
    "S3_ACCESS_KEY_ID": "key-for-validation",
    "S3_SECRET_ACCESS_KEY": "secret-for-validation",
}


def _common(config, service, suffix):
    assert config["sink"] == {"type": "metadata-rest", "config": {}}
    assert config["workflowConfig"] == {
        "loggerLevel": "INFO",
        "openMetadataServerConfig": {
            "hostPort": "https://om.example.org:8585/api",
            "authProvider": "openmetadata",
            "securityConfig": {"jwtToken": "${OPEN_METADATA_TOKEN}"},
        },
    }
    assert config["ingestionPipelineFQN"] == f"{service}.{suffix}"
    assert config["source"]["serviceName"] == service


def test_server_settings_require_api_suffix():
    with pytest.raises(ValueError, match="/api"):
        ServerSettings(host_port="https://om.example.org:8585")


def test_version_line_is_chosen_from_package_version():
    assert line_keys(line_of("2.0.6.0")) is V20
    assert line_keys(line_of("1.5.15.2")) is V15
    with pytest.raises(ValueError, match="not supported"):
        line_keys(line_of("1.4.0"))


def test_postgres_metadata_config_fields():
    request = workflow_request(METADATA, PG, PG_SERVICE, SERVER, V20)
    config = request.config
    _common(config, PG_SERVICE, "metadata")
    assert request.kind is WorkflowKind.METADATA
    assert "processor" not in config
    assert config["source"]["type"] == "postgres"
    assert config["source"]["serviceConnection"]["config"] == {
        "type": "Postgres",
        "username": "reader",
        "authType": {"password": "${POSTGRES_PASSWORD}"},
        "hostPort": "db.internal:5433",
        "database": "sales_db",
        "ingestAllDatabases": False,
    }
    assert config["source"]["sourceConfig"]["config"] == {
        "type": "DatabaseMetadata",
        "markDeletedTables": True,
        "markDeletedSchemas": True,
        "includeTables": True,
        "includeViews": True,
        "schemaFilterPattern": {"excludes": SYSTEM_SCHEMAS},
    }
    assert request.secret_variables == ("OPEN_METADATA_TOKEN", "POSTGRES_PASSWORD")


def test_postgres_lineage_config_fields():
    request = workflow_request(LINEAGE, PG, PG_SERVICE, SERVER, V20)
    config = request.config
    _common(config, PG_SERVICE, "lineage")
    assert "processor" not in config
    assert config["source"]["type"] == "postgres-lineage"
    assert config["source"]["serviceConnection"]["config"]["database"] == "sales_db"
    assert config["source"]["sourceConfig"]["config"] == {
        "type": "DatabaseLineage",
        "processViewLineage": True,
        "processQueryLineage": True,
        "processStoredProcedureLineage": False,
        "schemaFilterPattern": {"excludes": SYSTEM_SCHEMAS},
    }


def test_postgres_profiler_config_fields_per_line():
    request = workflow_request(
        PROFILER, PG, PG_SERVICE, SERVER, V20, generate_sample_data=False
    )
    config = request.config
    _common(config, PG_SERVICE, "profiler")
    assert config["processor"] == {"type": "orm-profiler", "config": {}}
    assert "serviceConnection" not in config["source"]
    assert config["source"]["sourceConfig"]["config"] == {
        "type": "Profiler",
        "includeViews": True,
        "schemaFilterPattern": {"excludes": SYSTEM_SCHEMAS},
    }
    assert request.secret_variables == ("OPEN_METADATA_TOKEN",)

    legacy = workflow_request(
        PROFILER, PG, PG_SERVICE, SERVER, V15, generate_sample_data=True
    )
    assert legacy.config["source"]["sourceConfig"]["config"] == {
        "type": "Profiler",
        "includeViews": True,
        "schemaFilterPattern": {"excludes": SYSTEM_SCHEMAS},
        "generateSampleData": True,
        "processPiiSensitive": False,
    }


def test_sample_data_pipeline_config_fields():
    config = workflow_request(SAMPLE, PG, PG_SERVICE, SERVER, V20).config
    _common(config, PG_SERVICE, "autoClassification")
    assert config["source"]["sourceConfig"]["config"] == {
        "type": "AutoClassification",
        "storeSampleData": True,
        "enableAutoClassification": False,
    }


def test_datalake_metadata_config_fields():
    request = workflow_request(METADATA, LAKE, LAKE_SERVICE, SERVER, V20)
    config = request.config
    _common(config, LAKE_SERVICE, "metadata")
    assert config["source"]["type"] == "datalake"
    assert config["source"]["serviceConnection"]["config"] == {
        "type": "Datalake",
        "configSource": {
            "securityConfig": {
                "awsAccessKeyId": "${S3_ACCESS_KEY_ID}",
                "awsSecretAccessKey": "${S3_SECRET_ACCESS_KEY}",
                "awsRegion": "eu-west-1",
                "endPointURL": "https://storage.googleapis.com",
            }
        },
        "bucketName": "platform-api",
        "prefix": "alice.smith-assets/",
        "databaseName": "default",
    }
    assert config["source"]["sourceConfig"]["config"] == {
        "type": "DatabaseMetadata",
        "markDeletedTables": True,
        "markDeletedSchemas": True,
        "includeTables": True,
        "includeViews": True,
        "useFqnForFiltering": False,
        "tableFilterPattern": {"includes": [r"(?-i:alice\.smith\-assets/)"]},
    }
    assert request.secret_variables == (
        "OPEN_METADATA_TOKEN",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
    )


@pytest.mark.parametrize(
    ("prefix", "key", "kept"),
    [
        ("ann-assets/", "ann-assets/x.csv", True),
        ("ann-assets/", "joann-assets/x.csv", False),
        ("ann-assets/", "Ann-assets/x.csv", False),
        ("ann-assets/", "ann-assets-old/x.csv", False),
        ("Ann-assets/", "ann-assets/x.csv", False),
        ("assets/", "ann-assets/x.csv", False),
        ("assets/", "assets/deep/x.csv", True),
        ("alice.smith-assets/", "aliceXsmith-assets/x.csv", False),
    ],
)
def test_datalake_table_pattern_is_anchored_and_case_sensitive(prefix, key, kept):
    import re

    # OpenMetadata's own matching: re.match(pattern, name, re.IGNORECASE).
    pattern = datalake_table_pattern(prefix)
    assert bool(re.match(pattern, key, re.IGNORECASE)) is kept


def test_datalake_profiler_config_fields_per_line():
    config = workflow_request(
        PROFILER, LAKE, LAKE_SERVICE, SERVER, V20, generate_sample_data=False
    ).config
    _common(config, LAKE_SERVICE, "profiler")
    assert config["processor"] == {"type": "orm-profiler", "config": {}}
    assert (
        config["source"]["serviceConnection"]["config"]["bucketName"] == "platform-api"
    )
    assert config["source"]["sourceConfig"]["config"] == {
        "type": "Profiler",
        "includeViews": True,
        "useFqnForFiltering": False,
        "tableFilterPattern": {"includes": [r"(?-i:alice\.smith\-assets/)"]},
        "profileSampleConfig": {
            "sampleConfigType": "STATIC",
            "config": {"profileSample": 5000, "profileSampleType": "ROWS"},
        },
    }
    legacy = workflow_request(
        PROFILER, LAKE, LAKE_SERVICE, SERVER, V15, generate_sample_data=False
    ).config
    assert legacy["source"]["sourceConfig"]["config"] == {
        "type": "Profiler",
        "includeViews": True,
        "useFqnForFiltering": False,
        "tableFilterPattern": {"includes": [r"(?-i:alice\.smith\-assets/)"]},
        "generateSampleData": False,
        "processPiiSensitive": False,
        "profileSample": 5000,
        "profileSampleType": "ROWS",
    }
    assert legacy["ingestionPipelineFQN"] == f"{LAKE_SERVICE}.profiler"


def test_endpoint_is_omitted_for_aws():
    aws = DatalakeSource(bucket="b", prefix="p/", region="us-east-1", endpoint_url=None)
    config = workflow_request(METADATA, aws, "svc", SERVER, V20).config
    security = config["source"]["serviceConnection"]["config"]["configSource"]
    assert "endPointURL" not in security["securityConfig"]


def _validate(ingestion_python, runner_script, tmp_path, configs):
    paths = []
    for name, config in configs.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(config))
        paths.append(str(path))
    completed = subprocess.run(
        [str(ingestion_python), str(runner_script), "validate", *paths],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **SECRET_ENV},
        timeout=240,
        check=False,
    )
    reports = {
        os.path.basename(report["path"]).removesuffix(".json"): report
        for report in map(json.loads, completed.stdout.splitlines())
    }
    return completed.returncode, reports


def test_every_config_validates_against_the_installed_package_models(
    ingestion_python, runner_script, tmp_path
):
    configs = {
        "pg_metadata": workflow_request(METADATA, PG, PG_SERVICE, SERVER, V20).config,
        "pg_profiler": workflow_request(
            PROFILER, PG, PG_SERVICE, SERVER, V20, generate_sample_data=True
        ).config,
        "pg_sample": workflow_request(SAMPLE, PG, PG_SERVICE, SERVER, V20).config,
        "lake_metadata": workflow_request(
            METADATA, LAKE, LAKE_SERVICE, SERVER, V20
        ).config,
        "lake_profiler": workflow_request(
            PROFILER, LAKE, LAKE_SERVICE, SERVER, V20, generate_sample_data=False
        ).config,
        "lake_sample": workflow_request(SAMPLE, LAKE, LAKE_SERVICE, SERVER, V20).config,
        "pg_lineage": workflow_request(LINEAGE, PG, PG_SERVICE, SERVER, V20).config,
        "dagster": workflow_request(
            WorkflowKind.PIPELINES,
            DagsterSource(host="http://dagster-webserver:80"),
            "platform-dagster",
            SERVER,
            V20,
        ).config,
        # 1.5-line profiler keys are unknown to the 2.0 models: must be rejected.
        "legacy_profiler": workflow_request(
            PROFILER, PG, PG_SERVICE, SERVER, V15, generate_sample_data=True
        ).config,
    }
    returncode, reports = _validate(ingestion_python, runner_script, tmp_path, configs)
    assert returncode == 1
    assert {name: report["valid"] for name, report in reports.items()} == {
        "pg_metadata": True,
        "pg_profiler": True,
        "pg_sample": True,
        "lake_metadata": True,
        "lake_profiler": True,
        "lake_sample": True,
        "pg_lineage": True,
        "dagster": True,
        "legacy_profiler": False,
    }
    assert (
        reports["pg_lineage"]["source_config"] == "DatabaseServiceQueryLineagePipeline"
    )
    assert reports["dagster"]["source_config"] == "PipelineServiceMetadataPipeline"
    assert reports["pg_metadata"]["source_config"] == "DatabaseServiceMetadataPipeline"
    assert reports["pg_profiler"]["source_config"] == "DatabaseServiceProfilerPipeline"
    assert (
        reports["lake_sample"]["source_config"]
        == "DatabaseServiceAutoClassificationPipeline"
    )
    assert "generateSampleData" in reports["legacy_profiler"]["error"]


def test_dagster_pipelines_config_fields():
    request = workflow_request(
        WorkflowKind.PIPELINES,
        DagsterSource(host="http://dagster-webserver:80"),
        "platform-dagster",
        SERVER,
        V20,
    )
    config = request.config
    _common(config, "platform-dagster", "pipelines")
    assert config["source"]["type"] == "dagster"
    assert config["source"]["serviceConnection"]["config"] == {
        "type": "Dagster",
        "host": "http://dagster-webserver:80",
        "timeout": 300,
    }
    assert config["source"]["sourceConfig"]["config"]["type"] == "PipelineMetadata"
    assert request.secret_variables == ("OPEN_METADATA_TOKEN",)
