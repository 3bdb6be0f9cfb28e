"""The six resources shared by every feature, and their settings machinery."""

from moderate.resources.keycloak import KeycloakResource
from moderate.resources.openmetadata import OpenMetadataResource
from moderate.resources.platform_api import PlatformApiResource
from moderate.resources.postgres import PostgresResource
from moderate.resources.rabbitmq import RabbitMQResource
from moderate.resources.s3 import S3Resource
from moderate.resources.settings import (
    EnvBackedResource,
    HealthReport,
    NotUsableError,
    ServiceNotConfiguredError,
)

__all__ = [
    "EnvBackedResource",
    "HealthReport",
    "KeycloakResource",
    "NotUsableError",
    "OpenMetadataResource",
    "PlatformApiResource",
    "PostgresResource",
    "RabbitMQResource",
    "S3Resource",
    "ServiceNotConfiguredError",
]
