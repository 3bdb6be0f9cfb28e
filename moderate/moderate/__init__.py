"""MODERATE data pipelines.

The Dagster code location is the module ``moderate.definitions`` (``dagster api
grpc --module-name moderate.definitions``). This package file imports nothing,
so that the analysis worker (``python -m moderate.matrix_profile.worker``) does
not pay for Dagster or any feature it does not run.
"""
