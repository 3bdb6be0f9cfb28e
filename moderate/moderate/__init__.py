"""MODERATE data pipelines: the Dagster code location ``moderate``.

The definitions load lazily so that ``python -m moderate.matrix_profile.worker``
(the analysis container) does not import every feature; ``dagster api grpc
--package-name moderate`` and ``-m moderate`` still find them here.
"""

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """The code location's definitions (see ``moderate.definitions``)."""
    from moderate.definitions import defs as code_location

    return code_location
