"""Definitions of the openmetadata feature."""

from dagster import Definitions

defs = Definitions()
