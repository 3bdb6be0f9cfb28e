"""Definitions of the trust feature."""

from dagster import Definitions

defs = Definitions()
