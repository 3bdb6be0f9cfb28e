"""Helpers shared by several features; they import no feature and no Dagster."""
