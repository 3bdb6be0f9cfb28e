"""The instance the Dagster chart writes from our values opens with our image's drivers.

The chart's ``dagster.postgresql.config`` helper turns ``postgresql.*`` values into
``storage.postgres.postgres_db`` (``scheme`` only when ``postgresqlScheme`` is set);
the run pods build their ``DagsterInstance`` from that ConfigMap.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance

from moderate_tests.deployment.files import REPO_ROOT, render_yaml_documents, sample_env
from moderate_tests.support import postgres as local_postgres


def _chart_postgres_db(values: dict[str, Any], database: str) -> dict[str, Any]:
    """``postgres_db`` as the chart renders it, aimed at the local server."""
    postgresql = values["postgresql"]
    config: dict[str, Any] = {
        "username": local_postgres.USERNAME,
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": local_postgres.HOST,
        "db_name": database,
        "port": int(local_postgres.PORT),
        "params": postgresql.get("postgresqlParams") or {},
    }
    if postgresql.get("postgresqlScheme"):
        config["scheme"] = postgresql["postgresqlScheme"]
    return config


def test_run_pods_open_the_charts_postgres_instance(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (values,) = render_yaml_documents(
        REPO_ROOT / "values-dagster.yaml.template", sample_env()
    )
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", local_postgres.PASSWORD)
    (tmp_path / "dagster.yaml").write_text(
        yaml.safe_dump(
            {
                "storage": {
                    "postgres": {
                        "postgres_db": _chart_postgres_db(values, postgres_database)
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_runs_count() == 0
