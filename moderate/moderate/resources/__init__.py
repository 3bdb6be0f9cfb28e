"""The six resources shared by every feature."""

from typing import Any

from moderate.resources.keycloak import KeycloakResource
from moderate.resources.openmetadata import OpenMetadataResource
from moderate.resources.platform_api import PlatformApiResource
from moderate.resources.postgres import PostgresResource
from moderate.resources.rabbitmq import RabbitMQResource
from moderate.resources.s3 import S3Resource
from moderate.resources.settings import ServiceNotConfiguredError
from moderate.state.resource import StateStoreResource

__all__ = [
    "KeycloakResource",
    "OpenMetadataResource",
    "PlatformApiResource",
    "PostgresResource",
    "RabbitMQResource",
    "S3Resource",
    "ServiceNotConfiguredError",
    "build_resources",
]


def build_resources() -> dict[str, Any]:
    """The shared resources by the keys ops and sensors ask for (no settings read)."""
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
