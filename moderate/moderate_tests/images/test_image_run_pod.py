"""A run as the Dagster chart runs it: the code-server image, uid 10001,
``DAGSTER_HOME=/opt/dagster/dagster_home`` and the code location's variables
(what ``dagster-secrets`` holds). The datasets assets materialise against
SeaweedFS, PostgreSQL and the Platform API double; preparing and publishing
run in two separate containers, as in two run pods."""

import json
import shutil
import subprocess
from pathlib import Path

from moderate_tests.datasets.repos import building_stock_repo
from moderate_tests.doubles import API_ADMIN_PASSWORD, API_ADMIN_USERNAME
from moderate_tests.images.docker import DOCKER_CLI, RUN_USER, docker_env
from moderate_tests.support.postgres import HOST, PASSWORD, PORT, USERNAME

CHART_DAGSTER_HOME = "/opt/dagster/dagster_home"
SOURCE_MOUNT = "/srv/building-stock.git"
RUN_TIMEOUT_S = 900
RUN_UID = 10001
PARTITION = "building_stock"


def _variables(s3, platform_api) -> dict[str, str]:
    return {
        "DAGSTER_HOME": CHART_DAGSTER_HOME,
        # The source is a local bare repository mounted into the container.
        "MODERATE_DATASETS_ALLOW_LOCAL_REPOSITORIES": "true",
        "S3_ACCESS_KEY_ID": s3.access_key_id,
        "S3_SECRET_ACCESS_KEY": s3.setting("secret_access_key"),
        "S3_REGION": s3.region,
        "S3_ENDPOINT_URL": s3.endpoint_url,
        "S3_BUCKET_NAME": s3.bucket_name,
        "S3_JOB_OUTPUTS_BUCKET_NAME": s3.job_outputs_bucket_name,
        "API_BASE_URL": platform_api.url,
        "API_USERNAME": API_ADMIN_USERNAME,
        "API_PASSWORD": API_ADMIN_PASSWORD,
        "POSTGRES_HOST": HOST,
        "POSTGRES_PORT": str(PORT),
        "POSTGRES_USERNAME": USERNAME,
        "POSTGRES_PASSWORD": PASSWORD,
    }


def _materialise(
    image: str,
    source: Path,
    variables: dict[str, str],
    asset: str,
    config: dict,
    partition: str = PARTITION,
) -> subprocess.CompletedProcess[str]:
    # Values travel as the container's environment (docker reads them by name).
    arguments = [
        DOCKER_CLI,
        "run",
        "--rm",
        "--network=host",
        f"--user={RUN_USER}",
        f"--volume={source}:{SOURCE_MOUNT}:ro",
        *(f"--env={name}" for name in variables),
        image,
        "dagster",
        "asset",
        "materialize",
        "--module-name",
        "moderate.definitions",
        "--select",
        asset,
        "--partition",
        partition,
        "--config-json",
        json.dumps(config),
    ]
    return subprocess.run(
        arguments,
        env={**docker_env(), **variables},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def test_datasets_materialise_in_run_pods_as_the_chart_runs_them(
    images, tmp_path, s3, platform_api, postgres_database
):
    repo = building_stock_repo(tmp_path / "building-stock")
    # The run user reads the source; git refuses repositories of another owner.
    source = tmp_path / "source.git"
    shutil.copytree(repo.bare, source)
    for path in (source, *source.rglob("*")):
        shutil.chown(path, RUN_UID, RUN_UID)
    image = images["code-server"].tag
    variables = _variables(s3, platform_api)
    state = {"resources": {"state_store": {"config": {"database": postgres_database}}}}

    prepared = _materialise(
        image,
        source,
        variables,
        "prepared_datasets",
        {
            "ops": {
                "prepared_datasets": {"config": {"repo_url": f"file://{SOURCE_MOUNT}"}}
            },
            **state,
        },
    )
    assert prepared.returncode == 0, prepared.stderr[-5000:]
    assert "PermissionError" not in prepared.stderr

    published = _materialise(image, source, variables, "platform_asset_datasets", state)
    assert published.returncode == 0, published.stderr[-5000:]

    (asset,) = [a for a in platform_api.assets() if a["name"] == "building-stock"]
    assert platform_api.objects(asset["id"]), "nothing was published"
