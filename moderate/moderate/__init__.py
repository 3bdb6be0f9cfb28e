"""MODERATE data pipelines: the Dagster code location ``moderate``."""

from moderate.definitions import defs

__all__ = ["defs"]
