"""Names derived from free text: slugs and de-duplicated names."""

import re
from collections.abc import Sequence

_NON_SLUG = re.compile(r"[^a-z0-9]+")


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
