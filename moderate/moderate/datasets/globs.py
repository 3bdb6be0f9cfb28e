"""Repository-relative glob patterns with ``**``.

``*`` and ``?`` never cross a ``/``; ``**/`` matches zero or more whole
directories and a trailing ``**`` matches everything below a directory.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

_DOUBLE_STAR_DIRS = "**/"
_DOUBLE_STAR = "**"


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compiles a glob on POSIX relative paths to an anchored regex.

    Args:
        pattern: The glob, e.g. ``data/meters/**/*.csv``.

    Returns:
        A regex that matches whole relative paths.
    """
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith(_DOUBLE_STAR_DIRS, index):
            parts.append("(?:[^/]+/)*")
            index += len(_DOUBLE_STAR_DIRS)
        elif pattern.startswith(_DOUBLE_STAR, index):
            parts.append(".*")
            index += len(_DOUBLE_STAR)
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts) + r"\Z")


def matches(pattern: str, relative_path: str) -> bool:
    """Whether ``relative_path`` matches ``pattern`` entirely."""
    return glob_regex(pattern.lstrip("/")).match(relative_path) is not None


@dataclass(frozen=True)
class GlobSelection:
    """Files selected by a list of globs.

    Attributes:
        paths: Matching relative paths, sorted, each once.
        unmatched_globs: Globs that matched no file.
    """

    paths: tuple[str, ...]
    unmatched_globs: tuple[str, ...]


def select(globs: Sequence[str], relative_paths: Iterable[str]) -> GlobSelection:
    """Selects the paths that match any of ``globs``.

    Args:
        globs: Patterns on repository-relative paths.
        relative_paths: Candidate paths (POSIX, relative to the repository).

    Returns:
        The selection and the globs that matched nothing.
    """
    candidates = sorted(set(relative_paths))
    selected: set[str] = set()
    unmatched: list[str] = []
    for pattern in globs:
        hits = [path for path in candidates if matches(pattern, path)]
        if not hits:
            unmatched.append(pattern)
        selected.update(hits)
    return GlobSelection(tuple(sorted(selected)), tuple(unmatched))
