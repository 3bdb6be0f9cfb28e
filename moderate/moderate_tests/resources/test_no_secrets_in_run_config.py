"""No secret can be typed into run config: none appears in any job's config schema."""

import re
from collections.abc import Iterator

import pytest
from dagster._config import ConfigType

from moderate.definitions import defs

SECRET_NAME = re.compile(
    r"^(?!.*_name$).*(password|secret|token|credential|private_key)|^url$", re.I
)
REPOSITORY = defs.get_repository_def()
JOBS = REPOSITORY.get_all_jobs()


def _field_paths(config_type: ConfigType, prefix: str) -> Iterator[str]:
    fields = getattr(config_type, "fields", None) or {}
    for name, field in fields.items():
        path = f"{prefix}.{name}"
        yield path
        yield from _field_paths(field.config_type, path)
    for inner in getattr(config_type, "type_params", None) or ():
        yield from _field_paths(inner, prefix)


def test_there_are_jobs_to_check():
    assert JOBS


@pytest.mark.parametrize("job", JOBS, ids=lambda job: job.name)
def test_run_config_schema_has_no_secret_field(job):
    schema = job.run_config_schema.config_type
    secrets = [
        path
        for path in _field_paths(schema, job.name)
        if SECRET_NAME.search(path.rsplit(".", 1)[-1])
    ]
    assert secrets == []
