"""No op's run config chooses an image, interpreter, host, URL, path or command.

Every text field of every job's op config whose name says it picks such a
thing is either refused by the schema's pattern (checked here with hostile
values) or checked when the run starts by code a named test covers. A new field
of that kind fails this test until it is reviewed. (Resource config is refused
as a whole; see ``test_resource_run_config``.)
"""

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from dagster._config import ConfigType, ConfigTypeKind
from pydantic import BaseModel, ValidationError

from moderate.datasets.config import PrepareConfig
from moderate.definitions import defs
from moderate.openmetadata.config import RunnerConfig
from moderate.trust.ops import ObjectItem

CHOOSING_WORDS = frozenset(
    {
        "account",
        "args",
        "bucket",
        "cmd",
        "command",
        "dir",
        "endpoint",
        "environment",
        "file",
        "glob",
        "globs",
        "host",
        "image",
        "interpreter",
        "key",
        "namespace",
        "path",
        "prefix",
        "python",
        "ref",
        "repo",
        "script",
        "secret",
        "uri",
        "url",
    }
)
TEXT_SCALARS = frozenset({"String", "StringSourceType"})
SHAPES = frozenset(
    {
        ConfigTypeKind.STRICT_SHAPE,
        ConfigTypeKind.PERMISSIVE_SHAPE,
        ConfigTypeKind.SELECTOR,
    }
)
WRAPPERS = frozenset({ConfigTypeKind.ARRAY, ConfigTypeKind.NONEABLE})


@dataclass(frozen=True)
class RefusedBySchema:
    """The field's pattern refuses every hostile value and accepts ``valid``."""

    config: type[BaseModel]
    field: str
    hostile: tuple[str, ...]
    valid: str


@dataclass(frozen=True)
class NotAChoice:
    """The value is data sent as a JSON value, never a name of a place."""

    reason: str


@dataclass(frozen=True)
class CheckedAtRun:
    """Code checks the value when the run starts; the named test proves it."""

    module: str
    test: str


INGESTION_OPS = (
    "discover_datalake_prefixes",
    "discover_postgres_databases",
    "ingest_dagster_pipelines",
    "openmetadata_datalake_prefix",
    "openmetadata_postgres_database",
)
KUBERNETES_HOSTILE = ("kube-system/x", "../x", "-x", "X", "a b", "x\n", "")
GLOBS = CheckedAtRun("moderate_tests.fuzz.test_fuzz_naming", "test_globs")
"""Globs only filter the checkout's repository-relative file names."""
INPUT_OBJECT = CheckedAtRun(
    "moderate_tests.matrix_profile.test_job_paths",
    "test_input_outside_the_platform_bucket_is_refused",
)
"""Only an object of the data-lake bucket is ever presigned for the worker."""
REVIEWED: dict[
    tuple[str, str], tuple[RefusedBySchema | CheckedAtRun | NotAChoice, ...]
] = {
    ("prepared_datasets", "repo_url"): (
        CheckedAtRun(
            "moderate_tests.datasets.test_git_boundary",
            "test_only_https_urls_of_allowed_hosts_pass_by_default",
        ),
        CheckedAtRun(
            "moderate_tests.datasets.test_git_boundary",
            "test_run_config_cannot_allow_local_repositories",
        ),
    ),
    ("prepared_datasets", "ref"): (
        RefusedBySchema(
            PrepareConfig,
            "ref",
            ("--upload-pack=touch pwned; git-upload-pack", "-c", "a b", "x;y", ""),
            "v1.2/main",
        ),
        CheckedAtRun(
            "moderate_tests.datasets.test_git_boundary",
            "test_an_injected_ref_is_refused_and_runs_nothing",
        ),
    ),
    ("prepared_datasets", "staging_prefix"): (
        RefusedBySchema(
            PrepareConfig,
            "staging_prefix",
            ("../x", "/x", "a//b", "a/../b", "a/./b", "x/", "a\nb", "Datasets", ""),
            "datasets/staging",
        ),
    ),
    ("prepared_datasets", "globs"): (GLOBS,),
    ("prepared_datasets", "read_options.glob"): (GLOBS,),
    ("prepared_datasets", "key_columns.glob"): (GLOBS,),
    ("run_matrix_profile_analysis", "bucket"): (INPUT_OBJECT,),
    ("run_matrix_profile_analysis", "key"): (INPUT_OBJECT,),
    ("create_object_proofs", "items.key"): (
        RefusedBySchema(ObjectItem, "key", ("0", "-1", "1e3", "../1", "1 2", ""), "42"),
    ),
    ("create_user_dids", "items.key"): (
        NotAChoice("a Keycloak username, sent as the JSON value `username`"),
    ),
    **{
        (op, f"runner.{field}"): (
            RefusedBySchema(RunnerConfig, field, KUBERNETES_HOSTILE, valid),
        )
        for op in INGESTION_OPS
        for field, valid in (
            ("namespace", "dagster"),
            ("service_account", "dagster-ingestion"),
            ("secret_name", "dagster-secrets"),
        )
    },
}


def _text_leaves(config_type: ConfigType, path: tuple[str, ...]) -> Iterator[str]:
    kind = config_type.kind
    if kind in SHAPES:
        for name, field in config_type.fields.items():
            yield from _text_leaves(field.config_type, (*path, name))
    elif kind in WRAPPERS:
        yield from _text_leaves(config_type.inner_type, path)
    elif kind == ConfigTypeKind.SCALAR_UNION:
        yield from _text_leaves(config_type.scalar_type, path)
    elif path and (
        kind == ConfigTypeKind.ANY or config_type.given_name in TEXT_SCALARS
    ):
        yield ".".join(path)


def _choosing_fields() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for job in defs.get_repository_def().get_all_jobs():
        ops = job.run_config_schema.config_type.fields.get("ops")
        for op_name, op_field in (ops.config_type.fields if ops else {}).items():
            config = (op_field.config_type.fields or {}).get("config")
            if config is None:
                continue
            for path in _text_leaves(config.config_type, ()):
                words = set(path.rsplit(".", 1)[-1].split("_"))
                if words & CHOOSING_WORDS:
                    found.add((op_name, path))
    return found


CHOOSING = _choosing_fields()
REFUSALS = [
    (check, value)
    for checks in REVIEWED.values()
    for check in checks
    if isinstance(check, RefusedBySchema)
    for value in check.hostile
]


def test_the_walk_finds_the_fields_it_must() -> None:
    assert ("prepared_datasets", "ref") in CHOOSING
    assert ("run_matrix_profile_analysis", "bucket") in CHOOSING


def test_every_choosing_field_is_reviewed() -> None:
    assert sorted(CHOOSING - set(REVIEWED)) == []


def test_no_review_is_stale() -> None:
    assert sorted(set(REVIEWED) - CHOOSING) == []


@pytest.mark.parametrize(
    "check",
    sorted(
        {
            c
            for checks in REVIEWED.values()
            for c in checks
            if isinstance(c, CheckedAtRun)
        },
        key=lambda c: (c.module, c.test),
    ),
    ids=lambda c: c.test,
)
def test_run_time_checks_have_their_test(check: CheckedAtRun) -> None:
    assert callable(getattr(importlib.import_module(check.module), check.test, None))


@pytest.mark.parametrize(
    ("check", "value"), REFUSALS, ids=[f"{c.field}={v!r}" for c, v in REFUSALS]
)
def test_schema_refuses_hostile_values(check: RefusedBySchema, value: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(check.field)):
        check.config(**{check.field: value})


@pytest.mark.parametrize(
    "check",
    [
        c
        for checks in REVIEWED.values()
        for c in checks
        if isinstance(c, RefusedBySchema)
    ],
    ids=lambda c: c.field,
)
def test_schema_accepts_a_valid_value(check: RefusedBySchema) -> None:
    assert getattr(check.config(**{check.field: check.valid}), check.field) == (
        check.valid
    )
