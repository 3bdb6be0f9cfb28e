"""Definitions of the matrix_profile feature."""

from dagster import Definitions

defs = Definitions()
