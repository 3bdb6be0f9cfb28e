"""Discovery of the ingestion units: Postgres databases and data-lake prefixes."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from moderate.state.resource import DEFAULT_STATE_DATABASE

if TYPE_CHECKING:
    import sqlalchemy as sa
    from mypy_boto3_s3 import S3Client

DEFAULT_DATABASE_EXCLUDES: tuple[str, ...] = (
    "template*",
    "postgres",
    "keycloak",
    "openmetadata",
    "dagster",
    "moderateapi",
    "*_dagster_state",
    DEFAULT_STATE_DATABASE,
)
"""Internal and platform databases: templates, the maintenance database,
Keycloak's, OpenMetadata's, Dagster's storage, the Platform API's, the legacy
and current state stores."""
DEFAULT_DATABASE_INCLUDES: tuple[str, ...] = ("*",)
PREFIX_DELIMITER = "/"
DEFAULT_LIST_PAGE_SIZE = 1000
DATABASES_QUERY = (
    "SELECT datname FROM pg_database "
    "WHERE datallowconn AND NOT datistemplate ORDER BY datname"
)


@dataclass(frozen=True)
class NameFilter:
    """Allow-list and deny-list of shell-style patterns (``fnmatch``, case-sensitive).

    A name is selected when it matches an include pattern and no exclude pattern
    (excludes win over includes).
    """

    includes: Sequence[str] = DEFAULT_DATABASE_INCLUDES
    excludes: Sequence[str] = DEFAULT_DATABASE_EXCLUDES

    def accepts(self, name: str) -> bool:
        """Whether ``name`` is selected."""
        included = any(fnmatchcase(name, pattern) for pattern in self.includes)
        excluded = any(fnmatchcase(name, pattern) for pattern in self.excludes)
        return included and not excluded

    def select(self, names: Iterable[str]) -> list[str]:
        """The selected names, sorted and without duplicates."""
        return sorted({name for name in names if self.accepts(name)})


def list_databases(engine: "sa.Engine") -> list[str]:
    """Databases on the server that accept connections, templates excluded."""
    import sqlalchemy as sa

    with engine.connect() as connection:
        return [str(row[0]) for row in connection.execute(sa.text(DATABASES_QUERY))]


def list_top_level_prefixes(
    client: "S3Client", bucket: str, page_size: int = DEFAULT_LIST_PAGE_SIZE
) -> list[str]:
    """Every top-level prefix (``folder/``) of ``bucket``, sorted, page by page."""
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket,
        Delimiter=PREFIX_DELIMITER,
        PaginationConfig={"PageSize": page_size},
    )
    return sorted(
        {
            str(entry["Prefix"])
            for page in pages
            for entry in page.get("CommonPrefixes", [])
        }
    )


def discover_prefixes(prefixes: Iterable[str], name_filter: NameFilter) -> list[str]:
    """The prefixes to ingest, as listed; the patterns match them without ``/``."""
    return sorted(
        {p for p in prefixes if name_filter.accepts(p.rstrip(PREFIX_DELIMITER))}
    )


def check_distinct_service_names(names: Sequence[str], derived: Sequence[str]) -> None:
    """Checks that distinct names map to distinct derived names.

    Raises:
        ValueError: Naming the names that collide.
    """
    seen: dict[str, str] = {}
    for name, result in zip(names, derived, strict=True):
        if result in seen and seen[result] != name:
            raise ValueError(
                f"{seen[result]!r} and {name!r} would share the service name {result!r}"
            )
        seen[result] = name
