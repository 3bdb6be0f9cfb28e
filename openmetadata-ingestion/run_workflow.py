"""Runs one OpenMetadata ingestion workflow inside the ingestion environment.

This script is the only code that imports ``openmetadata-ingestion``. The
``moderate`` code location builds the workflow configuration and starts this
script as a separate process (a local subprocess or a Kubernetes pod) through
Dagster Pipes, because the ingestion package cannot share an environment with
Dagster.

Commands:
    ``run``: reads the workflow request from the Pipes extras (``workflow``,
    ``config``, ``expected_line``), validates the configuration (before any
    connection), checks the server version, runs the workflow, always stops it,
    and reports a summary as a
    Pipes custom message. Exit status 0 on success, 1 on a failed workflow, 2 on a
    request that cannot run (bad configuration, version mismatch, unreachable
    server).

    ``validate FILE...``: validates workflow configuration files (JSON) against
    the installed package's models and prints one JSON report per file.

Secrets never travel inside the configuration: a string value that is exactly
``${NAME}`` is replaced by the environment variable ``NAME`` of this process.
"""

import argparse
import importlib.metadata
import json
import os
import re
import sys
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = "openmetadata-ingestion"
VERSION_PATH = "/v1/system/version"
VERSION_TIMEOUT_S = 30.0
PLACEHOLDER = re.compile(r"^\$\{([A-Z][A-Z0-9_]*)\}$")
ERROR_SUMMARY_LIMIT = 2000
FAILURES_REPORTED = 5
SUMMARY_MESSAGE_TYPE = "openmetadata_workflow_summary"
EXIT_SUCCESS = 0
EXIT_WORKFLOW_FAILED = 1
EXIT_NOT_RUN = 2
WORKFLOW_KINDS = ("metadata", "lineage", "pipelines", "profiler", "autoClassification")
METADATA_WORKFLOW_KINDS = ("metadata", "lineage", "pipelines")
"""Kinds the package runs with ``MetadataWorkflow`` (the source type selects the
connector: ``postgres``, ``postgres-lineage``, ``dagster``)."""


class RequestError(Exception):
    """A workflow request that cannot run (raised before the workflow starts)."""


@dataclass(frozen=True)
class StepReport:
    """Counts of one workflow step."""

    name: str
    records: int
    updated_records: int
    warnings: int
    filtered: int
    errors: int


@dataclass
class WorkflowSummary:
    """What the runner reports back to the orchestrator."""

    workflow: str
    pipeline_fqn: str
    package_version: str
    status: str = "not_run"
    server_version: str | None = None
    success_percentage: float | None = None
    steps: list[StepReport] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    error_summary: str | None = None

    def as_message(self) -> dict[str, Any]:
        """The summary as a JSON-serialisable Pipes message payload."""
        return {"type": SUMMARY_MESSAGE_TYPE, **asdict(self)}


def major_minor(version: str) -> str:
    """``major.minor`` of a version string such as ``2.0.6.0`` or ``1.5.15``.

    Raises:
        RequestError: If the string does not start with two numbers.
    """
    match = re.match(r"^\s*v?(\d+)\.(\d+)", version)
    if match is None:
        raise RequestError(f"cannot read a major.minor version from {version!r}")
    return f"{match.group(1)}.{match.group(2)}"


def installed_version() -> str:
    """Version of the installed ``openmetadata-ingestion`` package."""
    return importlib.metadata.version(PACKAGE)


def resolve_placeholders(value: Any, environ: Mapping[str, str]) -> Any:
    """Replaces every ``${NAME}`` string by the environment variable ``NAME``.

    Raises:
        RequestError: Naming every variable that is referenced but unset.
    """
    missing: set[str] = set()

    def resolve(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: resolve(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [resolve(inner) for inner in item]
        if isinstance(item, str):
            match = PLACEHOLDER.match(item)
            if match:
                name = match.group(1)
                if not environ.get(name):
                    missing.add(name)
                    return item
                return environ[name]
        return item

    resolved = resolve(value)
    if missing:
        names = ", ".join(sorted(missing))
        raise RequestError(f"secret variables not set in the workflow process: {names}")
    return resolved


def check_server_version(config: Mapping[str, Any], package_version: str) -> str:
    """Reads the server version and compares major.minor with the package's.

    Args:
        config: The resolved workflow configuration.
        package_version: The installed ingestion package version.

    Returns:
        The server's version string.

    Raises:
        RequestError: If the server cannot be asked or its line differs.
    """
    server = config["workflowConfig"]["openMetadataServerConfig"]
    url = f"{str(server['hostPort']).rstrip('/')}{VERSION_PATH}"
    token = server.get("securityConfig", {}).get("jwtToken", "")
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=VERSION_TIMEOUT_S) as response:
            body = json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as error:
        raise RequestError(
            f"cannot read the OpenMetadata server version from {url}: "
            f"{type(error).__name__}: {error}"
        ) from error
    server_version = str(body.get("version", ""))
    if major_minor(server_version) != major_minor(package_version):
        raise RequestError(
            f"OpenMetadata server {server_version} and {PACKAGE} {package_version} "
            f"are on different release lines ({major_minor(server_version)} vs "
            f"{major_minor(package_version)}): install the ingestion package of the "
            "server's major.minor"
        )
    return server_version


def validate_config(config: Mapping[str, Any]) -> Any:
    """Parses a configuration with the installed package's own models.

    Returns:
        The parsed ``OpenMetadataWorkflowConfig``.

    Raises:
        RequestError: With the validation errors.
    """
    from metadata.generated.schema.metadataIngestion.workflow import (
        OpenMetadataWorkflowConfig,
    )
    from pydantic import ValidationError

    try:
        return OpenMetadataWorkflowConfig.model_validate(dict(config))
    except ValidationError as error:
        raise RequestError(f"invalid workflow configuration: {error}") from error


def workflow_class(kind: str) -> Any:
    """The workflow class of ``kind`` (imported lazily: imports are slow).

    Raises:
        RequestError: For an unknown kind or a missing optional dependency.
    """
    if kind in METADATA_WORKFLOW_KINDS:
        from metadata.workflow.metadata import MetadataWorkflow

        return MetadataWorkflow
    if kind == "profiler":
        from metadata.workflow.profiler import ProfilerWorkflow

        return ProfilerWorkflow
    if kind == "autoClassification":
        try:
            from metadata.workflow.classification import AutoClassificationWorkflow
        except ImportError as error:
            raise RequestError(
                "sample data needs the auto-classification workflow, which needs the "
                f"'pii-processor' extra of {PACKAGE}: {error}"
            ) from error
        return AutoClassificationWorkflow
    raise RequestError(
        f"unknown workflow kind {kind!r}; expected one of {WORKFLOW_KINDS}"
    )


def _step_report(step: Any) -> StepReport:
    status = step.get_status()
    return StepReport(
        name=str(step.name),
        records=len(status.records),
        updated_records=len(status.updated_records),
        warnings=len(status.warnings),
        filtered=len(status.filtered),
        errors=len(status.failures),
    )


def _failure_lines(workflow: Any) -> list[str]:
    lines = []
    for step in workflow.workflow_steps():
        for failure in step.get_status().failures:
            lines.append(f"{step.name}: {failure.name}: {failure.error}")
    return [line[:ERROR_SUMMARY_LIMIT] for line in lines[:FAILURES_REPORTED]]


def _truncate(text: str) -> str:
    return text if len(text) <= ERROR_SUMMARY_LIMIT else text[:ERROR_SUMMARY_LIMIT]


def run_request(
    request: Mapping[str, Any],
    environ: Mapping[str, str],
    log: Callable[[str], None],
) -> WorkflowSummary:
    """Runs one workflow request and returns its summary (never raises).

    Args:
        request: ``workflow`` (kind), ``config`` (with placeholders) and optional
            ``expected_line`` (the release line the config was built for).
        environ: Environment providing the secret placeholders.
        log: Receives progress lines (never secrets).

    Returns:
        The summary; ``status`` is ``success``, ``partial_success``, ``failed``
        or ``not_run``.
    """
    package_version = installed_version()
    raw_config = request.get("config", {})
    summary = WorkflowSummary(
        workflow=str(request.get("workflow")),
        pipeline_fqn=str(raw_config.get("ingestionPipelineFQN", "")),
        package_version=package_version,
    )
    try:
        expected_line = request.get("expected_line")
        if expected_line and expected_line != major_minor(package_version):
            raise RequestError(
                f"the configuration was built for the {expected_line} line but "
                f"{PACKAGE} {package_version} is installed"
            )
        config = resolve_placeholders(raw_config, environ)
        # Validated with the placeholders: validation errors quote input values.
        validate_config(raw_config)
        workflow_type = workflow_class(summary.workflow)
        summary.server_version = check_server_version(config, package_version)
        log(f"server {summary.server_version}, {PACKAGE} {package_version}")
    except RequestError as error:
        summary.error_summary = _truncate(str(error))
        return summary

    workflow = None
    try:
        workflow = workflow_type.create(config)
        workflow.execute()
        summary.steps = [_step_report(step) for step in workflow.workflow_steps()]
        summary.failures = _failure_lines(workflow)
        summary.success_percentage = workflow.calculate_success()
        workflow.raise_from_status()
        partial = summary.failures or any(step.errors for step in summary.steps)
        summary.status = "partial_success" if partial else "success"
    except Exception as error:  # noqa: BLE001 - every workflow error is reported
        summary.status = "failed"
        summary.error_summary = _truncate(f"{type(error).__name__}: {error}")
        log(traceback.format_exc())
        if workflow is not None and not summary.failures:
            summary.failures = _failure_lines(workflow)
    finally:
        if workflow is not None:
            _stop(workflow, summary, log)
    return summary


def _stop(workflow: Any, summary: WorkflowSummary, log: Callable[[str], None]) -> None:
    """Releases the workflow's connections; a failure here never hides the run's."""
    try:
        workflow.stop()
    except Exception as error:  # noqa: BLE001 - reported in the summary instead
        log(traceback.format_exc())
        if summary.status != "failed":
            summary.status = "failed"
            summary.error_summary = _truncate(
                f"stopping the workflow failed: {type(error).__name__}: {error}"
            )


def exit_code(summary: WorkflowSummary) -> int:
    """Process exit status of a summary."""
    if summary.status in ("success", "partial_success"):
        return EXIT_SUCCESS
    if summary.status == "failed":
        return EXIT_WORKFLOW_FAILED
    return EXIT_NOT_RUN


def command_run(status_via_pipes: bool) -> int:
    """Runs the workflow described by the Pipes extras and reports through Pipes.

    Args:
        status_via_pipes: Exit 0 whatever the outcome: the summary message alone
            carries it (for launchers that discard messages of failed processes).
    """
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        summary = run_request(pipes.extras, os.environ, pipes.log.info)
        pipes.report_custom_message(summary.as_message())
        if summary.error_summary:
            pipes.log.error(summary.error_summary)
    return EXIT_SUCCESS if status_via_pipes else exit_code(summary)


def command_validate(paths: list[str]) -> int:
    """Validates configuration files; prints one JSON line per file."""
    all_valid = True
    for path in paths:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
        try:
            resolve_placeholders(config, os.environ)
            parsed = validate_config(config)
        except RequestError as error:
            all_valid = False
            print(json.dumps({"path": path, "valid": False, "error": str(error)}))
            continue
        source_config = type(parsed.source.sourceConfig.config).__name__
        print(json.dumps({"path": path, "valid": True, "source_config": source_config}))
    return EXIT_SUCCESS if all_valid else EXIT_WORKFLOW_FAILED


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the workflow given by the Pipes extras")
    run.add_argument(
        "--status-via-pipes",
        action="store_true",
        help="exit 0 whatever the outcome; the Pipes summary carries the status",
    )
    validate = commands.add_parser("validate", help="validate configuration files")
    validate.add_argument("paths", nargs="+")
    commands.add_parser("version", help="print the installed package version")
    arguments = parser.parse_args(argv)
    if arguments.command == "run":
        return command_run(arguments.status_via_pipes)
    if arguments.command == "validate":
        return command_validate(arguments.paths)
    print(installed_version())
    return EXIT_SUCCESS


if __name__ == "__main__":
    sys.exit(main())
