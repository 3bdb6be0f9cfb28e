"""What the ingestion jobs maintain, as an asset of the ``openmetadata`` group.

The catalogue lives in OpenMetadata, not in Dagster storage: the spec stands for
the OpenMetadata services of the platform's data, and the collect step of each
ingestion job reports a materialization of it (source, services, statuses).
"""

from dagster import AssetKey, AssetSpec

GROUP_NAME = "openmetadata"
CATALOG_KEY = AssetKey("openmetadata_catalog")

openmetadata_catalog = AssetSpec(
    key=CATALOG_KEY,
    group_name=GROUP_NAME,
    description="OpenMetadata services (tables and profiles) of the platform's "
    "PostgreSQL databases and of the data-lake prefixes; reported by "
    "postgres_ingestion_job and datalake_ingestion_job.",
    kinds={"openmetadata"},
    tags={"moderate/feature": "openmetadata"},
)
