"""Definitions of the datasets feature."""

from dagster import Definitions

defs = Definitions()
