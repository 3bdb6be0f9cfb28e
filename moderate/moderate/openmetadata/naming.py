"""OpenMetadata names of the ingestion units (CONTRACT §7.3) and entity references."""

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from moderate.support.naming import slugify

POSTGRES_SERVICE_PREFIX = "platform-postgres-"
DATALAKE_SERVICE_PREFIX = "platform-datalake-"
DAGSTER_SERVICE_NAME = "platform-dagster"
"""The pipeline service of this code location's jobs (Dagster connector)."""
SHA256_HEX_LENGTH = 64
MAX_SERVICE_NAME_LENGTH = 128
"""Well below OpenMetadata's 256 characters: pipeline names and FQNs extend it."""
_NEEDS_QUOTES = re.compile(r"[.\"]")


def postgres_service_name(database: str) -> str:
    """Service name of one Postgres database, e.g. ``platform-postgres-my-db``.

    Raises:
        ValueError: If the name would exceed :data:`MAX_SERVICE_NAME_LENGTH`.
    """
    name = slugify(f"{POSTGRES_SERVICE_PREFIX}{database}")
    if len(name) > MAX_SERVICE_NAME_LENGTH or name == slugify(POSTGRES_SERVICE_PREFIX):
        raise ValueError(f"cannot derive a service name from database {database!r}")
    return name


def datalake_service_name(prefix: str) -> str:
    """Service name of one top-level data-lake prefix (``alice-assets/``).

    The shortened slug, ``-`` and the SHA-256 of the prefix as listed: prefixes
    whose slugs collide, and long ones, still get distinct names.
    """
    digest = hashlib.sha256(prefix.encode("utf-8")).hexdigest()
    room = MAX_SERVICE_NAME_LENGTH - SHA256_HEX_LENGTH - 1
    slug = slugify(f"{DATALAKE_SERVICE_PREFIX}{prefix}")[:room].rstrip("-")
    return f"{slug}-{digest}"


OWNED_PREFIX_SUFFIX = "-assets/"
"""The Platform API stores each user's uploads under ``<username>-assets/``."""


def owner_of_prefix(prefix: str) -> str | None:
    """The username of a ``<username>-assets/`` prefix; None for any other prefix."""
    folder = f"{prefix.rstrip('/')}/"
    if not folder.endswith(OWNED_PREFIX_SUFFIX):
        return None
    return folder.removesuffix(OWNED_PREFIX_SUFFIX) or None


def quote_fqn_part(name: str) -> str:
    """One part of an OpenMetadata FQN: quoted when it holds a dot or a quote."""
    return f'"{name}"' if _NEEDS_QUOTES.search(name) else name


def entity_reference(entity: Mapping[str, Any], entity_type: str) -> dict[str, str]:
    """``{id, type}`` of an entity, as the lineage and owner fields want it."""
    return {"id": str(entity["id"]), "type": entity_type}
