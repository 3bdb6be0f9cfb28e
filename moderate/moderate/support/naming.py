"""Names and short texts made from free text; metadata keys features share."""

import re
from collections.abc import Sequence

_NON_SLUG = re.compile(r"[^a-z0-9]+")
ELLIPSIS = "…"
OBJECT_KEYS_METADATA = "moderate/object_keys"
"""Materialisation metadata: the S3 keys a published asset wrote (lineage reads it)."""
REPORT_KEY_METADATA = "moderate/report_key"
"""Materialisation metadata: the S3 key of an analysis report (lineage reads it)."""


def slugify(text: str) -> str:
    """Lower-case ASCII letters and digits, other runs one ``-``, none at the ends."""
    return _NON_SLUG.sub("-", text.lower()).strip("-")


def unique_names(names: Sequence[str]) -> list[str]:
    """The names in order, each repeat renamed to the first free ``<name>_<n>``."""
    used: set[str] = set()
    result: list[str] = []
    for name in names:
        candidate, number = name, 1
        while candidate in used:
            number += 1
            candidate = f"{name}_{number}"
        used.add(candidate)
        result.append(candidate)
    return result


def one_line(text: str, limit: int) -> str:
    """``text`` with each whitespace run one space, cut to ``limit`` characters.

    A cut text ends in ``…``, at the last space of its second half, else mid-word
    (a long URL or path is kept in part, not dropped).
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    head = flat[: limit - len(ELLIPSIS)]
    space = head.rfind(" ")
    return (head[:space] if space >= limit // 2 else head) + ELLIPSIS


def markdown_cell(text: str) -> str:
    """``text`` safe in a Markdown table cell: pipes escaped, line breaks spaces."""
    return " ".join(text.splitlines()).replace("|", "\\|")
