"""Names derived from free text: slugs and de-duplicated names."""

import re
from collections.abc import Sequence

_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Lower-case ASCII letters and digits, every other run of characters one ``-``.

    Args:
        text: Any text.

    Returns:
        The slug, without leading or trailing dashes (empty if nothing is left).
    """
    return _NON_SLUG.sub("-", text.lower()).strip("-")


def unique_names(names: Sequence[str]) -> list[str]:
    """Names made unique by suffixing repeats with ``_2``, ``_3``, ….

    Args:
        names: Names in order, possibly repeated.

    Returns:
        The names, each repeat renamed to the first free ``<name>_<n>``.
    """
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
