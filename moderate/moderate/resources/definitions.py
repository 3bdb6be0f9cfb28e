"""The shared resources, keyed by the names ops and sensors ask for.

A feature's own resource (e.g. ``matrix_profile``) is bound by that feature's
definitions, so this module imports no feature.
"""

from __future__ import annotations

from typing import Any

from moderate.resources.keycloak import KeycloakResource
from moderate.resources.openmetadata import OpenMetadataResource
from moderate.resources.platform_api import PlatformApiResource
from moderate.resources.postgres import PostgresResource
from moderate.resources.rabbitmq import RabbitMQResource
from moderate.resources.s3 import S3Resource
from moderate.state.resource import StateStoreResource


def build_resources() -> dict[str, Any]:
    """Resources configured from the environment at run time.

    Returns:
        Resource key to resource; nothing is read from the environment here.
    """
    postgres = PostgresResource()
    return {
        "keycloak": KeycloakResource(),
        "postgres": postgres,
        "openmetadata": OpenMetadataResource(),
        "s3": S3Resource(),
        "platform_api": PlatformApiResource(),
        "rabbitmq": RabbitMQResource(),
        "state_store": StateStoreResource(postgres=postgres),
    }
