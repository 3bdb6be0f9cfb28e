"""Stable identifiers: dataset names, series ids, platform asset uuids.

Everything here derives from logical names only (repository-relative paths,
sheet names, the platform asset name), never from a clone directory or from
the API's URL, so identifiers are the same on every run and deployment.
"""

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from moderate.support.naming import slugify

if TYPE_CHECKING:
    from pathspec.patterns import GitWildMatchPattern

DATASETS_NAMESPACE = uuid.UUID("6f2b0c8e-4b7a-5d2e-9c1f-3a8d7e5b4c21")
SHEET_SEPARATOR = "#"
SLUG_MAX_LENGTH = 120
SLUG_FALLBACK = "dataset"
NAME_MAX_CHARS = 1024
SHEET_MAX_CHARS = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_USER_INFO = re.compile(r"://[^/\s]*@")


class DatasetNameError(ValueError):
    """A path or sheet name from a repository cannot name a dataset."""


class DatasetFormat:
    """Formats every dataset is published in."""

    ORIGINAL = "original"
    PARQUET = "parquet"


def normalise_relative_path(path: str) -> str:
    """A repository-relative POSIX path without ``.`` parts or leading slash.

    Raises:
        DatasetNameError: If the path is absolute, climbs out with ``..``, holds
            control characters or a ``#``, or is empty or too long.
    """
    if len(path) > NAME_MAX_CHARS or _CONTROL.search(path):
        raise DatasetNameError(
            f"not a usable repository path: {path[:NAME_MAX_CHARS]!r} "
            f"(control characters or longer than {NAME_MAX_CHARS})"
        )
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or SHEET_SEPARATOR in path:
        raise DatasetNameError(f"not a path inside the repository: {path!r}")
    parts = [part for part in pure.parts if part not in ("", ".")]
    if not parts:
        raise DatasetNameError("empty repository path")
    return "/".join(parts)


def dataset_name(relative_path: str, sheet: str | None = None) -> str:
    """The dataset name of a CSV file, ``<path>``, or of a sheet, ``<path>#<sheet>``.

    Raises:
        DatasetNameError: If the path or sheet name is not usable.
    """
    name = normalise_relative_path(relative_path)
    if sheet is None:
        return name
    if not sheet.strip() or len(sheet) > SHEET_MAX_CHARS or _CONTROL.search(sheet):
        raise DatasetNameError(
            f"{name}: sheet name {sheet[:SHEET_MAX_CHARS]!r} is empty, too long or "
            "holds control characters"
        )
    return f"{name}{SHEET_SEPARATOR}{sheet}"


def file_slug(text: str) -> str:
    """A slug for file names: its last 120 characters, never empty."""
    return slugify(text)[-SLUG_MAX_LENGTH:].lstrip("-") or SLUG_FALLBACK


def upload_file_name(name: str, data_format: str, original_suffix: str) -> str:
    """The file name sent with an upload (the API keeps its slugged stem)."""
    stem = name.removesuffix(original_suffix) if SHEET_SEPARATOR not in name else name
    suffix = ".parquet" if data_format == DatasetFormat.PARQUET else original_suffix
    return f"{file_slug(stem)}{suffix}"


def series_id(source: str, name: str, data_format: str) -> str:
    """The ``series_id`` shared by every version of one dataset in one format."""
    return str(uuid.uuid5(DATASETS_NAMESPACE, f"series:{source}:{data_format}:{name}"))


def platform_asset_uuid(platform_asset_name: str) -> str:
    """Deterministic uuid of a source's platform asset (independent of any URL)."""
    return str(uuid.uuid5(DATASETS_NAMESPACE, f"platform-asset:{platform_asset_name}"))


def legacy_platform_asset_uuid(api_base_url: str, platform_asset_name: str) -> str:
    """The uuid earlier deployments derived from their ``API_BASE_URL``."""
    root = api_base_url.strip("/")
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{root}/asset/{platform_asset_name}"))


def redact_url(text: str) -> str:
    """``text`` without the user information of its URLs (tokens stay private)."""
    return _USER_INFO.sub("://", text)


class InvalidGlobError(ValueError):
    """A configured glob is not valid gitignore-style syntax."""


@lru_cache(maxsize=256)
def _glob(pattern: str) -> "GitWildMatchPattern":
    # Anchored at the repository root, so a leading "!" or "#" is literal.
    from pathspec.patterns import GitWildMatchPattern

    try:
        return GitWildMatchPattern("/" + pattern.lstrip("/"))
    except ValueError as error:
        raise InvalidGlobError(f"invalid glob {pattern!r}: {error}") from None


def matches(pattern: str, relative_path: str) -> bool:
    """Whether a repository-relative path matches a glob entirely.

    Globs follow gitignore syntax anchored at the repository root (``*`` never
    crosses a ``/``, ``**/`` matches any folders).

    Raises:
        InvalidGlobError: If the glob is not valid.
    """
    return bool(_glob(pattern).match_file(relative_path))


@dataclass(frozen=True)
class GlobSelection:
    """Matching paths (sorted, each once) and the globs that matched no file."""

    paths: tuple[str, ...]
    unmatched_globs: tuple[str, ...]


def select(globs: Sequence[str], relative_paths: Iterable[str]) -> GlobSelection:
    """Selects the repository-relative paths that match any of ``globs``."""
    candidates = set(relative_paths)
    hits = {glob: {p for p in candidates if matches(glob, p)} for glob in globs}
    return GlobSelection(
        tuple(sorted(set().union(*hits.values()))),
        tuple(glob for glob, paths in hits.items() if not paths),
    )
