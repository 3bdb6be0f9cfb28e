"""The Dagster UI on the project's definitions, driven in headless Chromium.

`dg dev` (webserver and daemon, as `task dagster-dev` runs them) serves the
embedded default: SQLite under a temporary DAGSTER_HOME, no deployment variable
set, so launched runs and backfills fail naming what is missing.
Screenshots of every page go to a temporary folder; with
MODERATE_UPDATE_SCREENSHOT=1 (deploy/screenshot-asset-graph.sh) the asset graph is
also written to docs/images/asset-graph.png.
"""

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from dagster import DagsterInstance
from playwright.sync_api import Browser, Page, expect, sync_playwright

from moderate.definitions import defs
from moderate_tests.deployment.files import PROJECT_DIR, REPO_ROOT, example_variables

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTANCE_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
"""
LOCATION = "moderate"
GROUPS = ("datasets", "matrix_profile", "openmetadata", "trust")
ASSETS = (
    "keycloak_users_count",
    "prepared_datasets",
    "platform_asset_datasets",
)
JOBS = (
    "postgres_ingestion_job",
    "datalake_ingestion_job",
    "propagate_new_user_to_trust_services_job",
    "create_asset_object_proof_job",
    "matrix_profile_job",
    "doctor_job",
)
SENSORS = (
    "keycloak_user_sensor",
    "platform_api_asset_object_sensor",
    "matrix_profile_messages_sensor",
)
SCHEDULES = ("postgres_ingestion_job_schedule", "datalake_ingestion_job_schedule")
UNCONFIGURED_JOB = "postgres_ingestion_job"
MISSING_VARIABLE = "POSTGRES_HOST"
VENV = PROJECT_DIR / ".venv"
DG_BIN = str(VENV / "bin" / "dg")
DATASET_SOURCES = ("building_stock", "genome_project")
DATASET_ASSETS = ("prepared_datasets", "platform_asset_datasets")
INGESTION_ASSET = "openmetadata_postgres_database"
INGESTION_PARTITIONS = "openmetadata_postgres_databases"
REGISTERED_DATABASES = ("sales", "inventory", "hr")
SELECTED_DATABASES = ("sales", "hr")
NOT_CONFIGURED = re.compile(r"is not configured: set [A-Z0-9_]+(, [A-Z0-9_]+)*")
WRAPPED_ERROR_MARKERS = (
    "DagsterExecutionStepExecutionError",
    "The above exception was caused by",
)
SCREENSHOT_TARGET = REPO_ROOT / "docs" / "images" / "asset-graph.png"
SERVER_START_TIMEOUT_S = 180
RUN_TIMEOUT_S = 240
BACKFILL_TIMEOUT_S = 900
UI_TIMEOUT_MS = 30_000
GRAPH_VIEWPORT = {"width": 1500, "height": 1350}
RUN_STATUS_QUERY = (
    "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
)
BACKFILL_QUERY = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      status
      partitionNames
      runs(limit: 100) { runId status tags { key value } }
    }
  }
}
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_RUNNING = {"REQUESTED", "CANCELING"}
ELLIPSIS = "\u2026"
POLL_MS = 250


@dataclass(frozen=True)
class Webserver:
    url: str
    screenshots: Path

    def graphql(self, query: str, variables: dict[str, str]) -> dict:
        response = requests.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["data"]


expect.set_options(timeout=UI_TIMEOUT_MS)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.poll() is None, "dg dev exited while starting"
        try:
            if requests.get(f"{url}/server_info", timeout=5).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    pytest.fail(f"dg dev did not answer within {SERVER_START_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text(INSTANCE_YAML, encoding="utf-8")
    return home


@pytest.fixture(scope="module")
def webserver(
    dagster_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Webserver]:
    deployment_variables = set(example_variables())
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in deployment_variables
    }
    env["DAGSTER_HOME"] = str(dagster_home)
    env["VIRTUAL_ENV"] = str(VENV)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (dagster_home / "dg-dev.log").open("wb")
    server = subprocess.Popen(
        [DG_BIN, "dev", "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_until_serving(url, server)
        yield Webserver(url=url, screenshots=tmp_path_factory.mktemp("screenshots"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "install Debian's chromium (.ci/setup.d/40-chromium.sh)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def _open(page: Page, webserver: Webserver, path: str) -> None:
    page.goto(f"{webserver.url}{path}")
    page.wait_for_load_state("networkidle")


def _shows_name(text: str, name: str) -> bool:
    """Whether a label shows ``name``, possibly middle-truncated (``abc…xyz``)."""
    text = text.strip()
    if text == name:
        return True
    start, ellipsis, end = text.partition(ELLIPSIS)
    return bool(ellipsis) and name.startswith(start) and name.endswith(end)


def _expect_listed(page: Page, names: tuple[str, ...]) -> None:
    for name in names:
        pattern = re.compile(rf"^\s*({re.escape(name)}|[\w.-]+{ELLIPSIS}[\w.-]+)\s*$")
        candidates = page.get_by_text(pattern).filter(visible=True)
        deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
        while not any(_shows_name(text, name) for text in candidates.all_inner_texts()):
            assert time.monotonic() < deadline, f"{name} is not shown on {page.url}"
            page.wait_for_timeout(POLL_MS)


def test_every_asset_is_listed_with_its_page(page: Page, webserver: Webserver) -> None:
    _open(page, webserver, "/assets")
    page.screenshot(path=webserver.screenshots / "assets.png")
    for name in ASSETS:
        _open(page, webserver, f"/assets/{name}")
        _expect_listed(page, (name,))
        expect(page.get_by_text("Never materialized").first).to_be_visible()


def test_the_four_feature_groups_are_listed(page: Page, webserver: Webserver) -> None:
    asset_graph = defs.resolve_asset_graph()
    defined = {
        asset_graph.get(key).group_name for key in asset_graph.get_all_asset_keys()
    }
    assert (
        not set(GROUPS) - defined
    ), f"no asset of the definitions is in group(s) {sorted(set(GROUPS) - defined)}"
    _open(page, webserver, "/asset-groups")
    page.screenshot(path=webserver.screenshots / "asset-groups.png")
    _expect_listed(page, GROUPS)


def test_every_job_is_listed(page: Page, webserver: Webserver) -> None:
    _open(page, webserver, "/jobs")
    page.screenshot(path=webserver.screenshots / "jobs.png")
    _expect_listed(page, JOBS)


def test_every_sensor_and_schedule_is_listed(page: Page, webserver: Webserver) -> None:
    _open(page, webserver, "/automation")
    page.screenshot(path=webserver.screenshots / "automation.png")
    _expect_listed(page, SENSORS + SCHEDULES)


def _wait_for_run(webserver: Webserver, run_id: str) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = None
    while time.monotonic() < deadline and status not in FINISHED:
        time.sleep(2)
        status = webserver.graphql(RUN_STATUS_QUERY, {"id": run_id})["runOrError"][
            "status"
        ]
    assert status in FINISHED, f"run {run_id} still {status} after {RUN_TIMEOUT_S} s"
    return status


def _wait_for_backfill(webserver: Webserver, backfill_id: str) -> dict:
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while True:
        backfill = webserver.graphql(BACKFILL_QUERY, {"id": backfill_id})[
            "partitionBackfillOrError"
        ]
        runs_done = backfill["runs"] and all(
            run["status"] in FINISHED for run in backfill["runs"]
        )
        if backfill["status"] not in BACKFILL_RUNNING and runs_done:
            return backfill
        assert (
            time.monotonic() < deadline
        ), f"backfill {backfill_id} unfinished after {BACKFILL_TIMEOUT_S} s: {backfill}"
        time.sleep(2)


def _launch_backfill(page: Page) -> str:
    """Clicks the dialog's launch button; returns the id the toast names."""
    page.get_by_role("button", name="Launch backfill").click()
    toast = page.get_by_text(re.compile(r"Created backfill \w+")).first
    expect(toast).to_be_visible()
    match = re.search(r"Created backfill (\w+)", toast.inner_text())
    assert match, toast.inner_text()
    return match.group(1)


def _partition_tags(backfill: dict) -> list[str]:
    return sorted(
        tag["value"]
        for run in backfill["runs"]
        for tag in run["tags"]
        if tag["key"] == "dagster/partition"
    )


def test_a_backfill_of_both_dataset_sources_shows_each_partition(
    page: Page, webserver: Webserver
) -> None:
    _open(page, webserver, f"/locations/{LOCATION}/asset-groups/datasets/lineage")
    page.get_by_role("button", name="Materialize all").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Partition selection")).to_be_visible()
    dialog.get_by_role("button", name="All", exact=True).click()
    expect(
        dialog.get_by_text(f"{len(DATASET_SOURCES)} partitions", exact=True)
    ).to_be_visible()
    page.screenshot(path=webserver.screenshots / "datasets-backfill-dialog.png")
    backfill_id = _launch_backfill(page)

    backfill = _wait_for_backfill(webserver, backfill_id)
    assert sorted(backfill["partitionNames"]) == sorted(DATASET_SOURCES)
    assert _partition_tags(backfill) == sorted(DATASET_SOURCES)

    _open(page, webserver, f"/runs/b/{backfill_id}")
    for name in (*DATASET_SOURCES, *DATASET_ASSETS):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    page.screenshot(path=webserver.screenshots / "datasets-backfill.png")
    # Without the services every partition fails; each shows its own state.
    _open(page, webserver, f"/assets/{DATASET_ASSETS[0]}?view=partitions")
    expect(
        page.get_by_text(f"Failed ({len(DATASET_SOURCES)})", exact=True)
    ).to_be_visible()
    for source in DATASET_SOURCES:
        page.get_by_text(source, exact=True).filter(visible=True).first.click()
        expect(page.get_by_text(re.compile(r"Run \w+ failed")).first).to_be_visible()
    page.screenshot(path=webserver.screenshots / "datasets-partitions.png")


def test_a_backfill_of_selected_ingestion_partitions(
    page: Page,
    webserver: Webserver,
    dagster_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Discovery registers the databases it finds; here the test does, as the
    # instance has no PostgreSQL to discover.
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(
            INGESTION_PARTITIONS, list(REGISTERED_DATABASES)
        )
    _open(page, webserver, f"/assets/{INGESTION_ASSET}")
    page.get_by_role("button", name="Materialize").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Select a partition or create one").click()
    for database in SELECTED_DATABASES:
        page.get_by_text(database, exact=True).filter(visible=True).first.click()
    # Escape closes the partition list, not the dialog.
    page.get_by_placeholder("Filter partitions").press("Escape")
    expect(page.get_by_placeholder("Filter partitions")).to_have_count(0)
    expect(
        dialog.get_by_text(f"{len(SELECTED_DATABASES)} partitions", exact=True)
    ).to_be_visible()
    page.screenshot(path=webserver.screenshots / "ingestion-backfill-dialog.png")
    backfill_id = _launch_backfill(page)

    backfill = _wait_for_backfill(webserver, backfill_id)
    assert sorted(backfill["partitionNames"]) == sorted(SELECTED_DATABASES)
    assert _partition_tags(backfill) == sorted(SELECTED_DATABASES)

    _open(page, webserver, f"/assets/{INGESTION_ASSET}?view=partitions")
    expect(
        page.get_by_text(f"Failed ({len(SELECTED_DATABASES)})", exact=True)
    ).to_be_visible()
    unselected = len(REGISTERED_DATABASES) - len(SELECTED_DATABASES)
    expect(page.get_by_text(f"Missing ({unselected})", exact=True)).to_be_visible()
    for database in SELECTED_DATABASES:
        page.get_by_text(database, exact=True).filter(visible=True).first.click()
        expect(page.get_by_text(re.compile(r"Run \w+ failed")).first).to_be_visible()
    page.screenshot(path=webserver.screenshots / "ingestion-partitions.png")


def test_a_missing_variable_fails_the_step_with_one_line(
    browser: Browser, webserver: Webserver
) -> None:
    # Tall enough that the virtualised run log renders every event.
    context = browser.new_context(viewport={"width": 1400, "height": 3000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        _open(
            page,
            webserver,
            f"/locations/{LOCATION}/jobs/{UNCONFIGURED_JOB}/playground",
        )
        page.get_by_role("button", name="Launch Run").click()
        page.wait_for_url("**/runs/**")
        run_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        assert _wait_for_run(webserver, run_id) == "FAILURE"
        page.reload()
        page.wait_for_load_state("networkidle")
        message = page.get_by_text(NOT_CONFIGURED).first
        expect(message).to_be_visible()
        lines = [
            line
            for line in message.inner_text().splitlines()
            if NOT_CONFIGURED.search(line)
        ]
        assert lines, message.inner_text()
        assert MISSING_VARIABLE in lines[0], lines
        page.screenshot(path=webserver.screenshots / "failed-run.png")
        text = page.locator("body").text_content() or ""
        for marker in WRAPPED_ERROR_MARKERS:
            assert marker not in text, f"{marker!r} shown on {page.url}"
    finally:
        context.close()


def test_asset_graph_screenshot(browser: Browser, webserver: Webserver) -> None:
    context = browser.new_context(viewport=GRAPH_VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        _open(page, webserver, "/asset-groups")
        page.locator("svg").first.wait_for()
        expect(page.get_by_text(GROUPS[-1], exact=True).first).to_be_visible()
        page.mouse.click(GRAPH_VIEWPORT["width"] - 100, 200, button="right")
        page.get_by_role("menuitem", name="Expand all groups").click()
        page.get_by_text("Hide navigation").click()
        page.reload()
        _expect_listed(page, ASSETS)
        expect(page.get_by_text("Loading...")).to_have_count(0)
        page.mouse.move(GRAPH_VIEWPORT["width"] - 50, GRAPH_VIEWPORT["height"] - 50)
        target = webserver.screenshots / "asset-graph.png"
        page.screenshot(path=target)
        assert target.stat().st_size > 0
        if os.environ.get("MODERATE_UPDATE_SCREENSHOT") == "1":
            SCREENSHOT_TARGET.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOT_TARGET)
    finally:
        context.close()
