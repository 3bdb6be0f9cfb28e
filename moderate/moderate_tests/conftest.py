"""Fixtures shared by every test: real services and clean settings."""

from collections.abc import Iterator

import pika
import pytest

from moderate.definitions import defs
from moderate.resources import PostgresResource, RabbitMQResource, S3Resource
from moderate.resources.settings import EnvBackedResource
from moderate.state import StateStore
from moderate_tests.matrix_profile.kmock_cluster import KmockCluster
from moderate_tests.support.postgres import postgres_resource, temporary_database
from moderate_tests.support.rabbitmq import RABBIT_URL, unique_queue_name
from moderate_tests.support.seaweedfs import S3Endpoint, SeaweedFS
from moderate_tests.support.secrets import resource_with_secrets

pytest_plugins = ["moderate_tests.doubles.fixtures"]


def _all_setting_variables() -> set[str]:
    names: set[str] = set()
    for resource in (defs.resources or {}).values():
        if isinstance(resource, EnvBackedResource):
            names.update(resource.ENV_VARS.values())
    return names


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no deployment variables unless they set them."""
    for name in _all_setting_variables():
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """Name of a fresh database on the local server, dropped afterwards."""
    with temporary_database() as name:
        yield name


@pytest.fixture
def postgres() -> Iterator[PostgresResource]:
    """A resource on the local server; engines disposed afterwards."""
    resource = postgres_resource()
    yield resource
    resource.dispose()


@pytest.fixture
def state_store(postgres: PostgresResource, postgres_database: str) -> StateStore:
    """A state store in a fresh PostgreSQL database."""
    store = StateStore(postgres.engine(postgres_database))
    store.create_schema()
    return store


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """A SeaweedFS S3 server for the whole test session."""
    server = SeaweedFS()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: S3Endpoint) -> Iterator[S3Resource]:
    """An S3 resource with two fresh buckets (data lake and job outputs)."""
    import uuid

    suffix = uuid.uuid4().hex[:10]
    resource = resource_with_secrets(
        S3Resource,
        {"secret_access_key": s3_endpoint.secret_access_key},
        access_key_id=s3_endpoint.access_key_id,
        region=s3_endpoint.region,
        endpoint_url=s3_endpoint.url,
        bucket_name=f"lake-{suffix}",
        job_outputs_bucket_name=f"outputs-{suffix}",
    )
    client = resource.client()
    client.create_bucket(Bucket=resource.data_lake_bucket)
    client.create_bucket(Bucket=resource.job_outputs_bucket)
    yield resource
    resource.teardown_after_execution(None)


@pytest.fixture
def rabbitmq() -> Iterator[RabbitMQResource]:
    """A RabbitMQ resource with a unique request queue, deleted afterwards."""
    resource = resource_with_secrets(
        RabbitMQResource, {"url": RABBIT_URL}, matrix_profile_queue=unique_queue_name()
    )
    yield resource
    connection = pika.BlockingConnection(pika.URLParameters(RABBIT_URL))
    try:
        channel = connection.channel()
        for queue in (resource.queue, resource.dead_letter_queue):
            channel.queue_delete(queue=queue)
    finally:
        connection.close()


@pytest.fixture
def kmock_cluster() -> Iterator[KmockCluster]:
    """A fresh Kubernetes API emulator on a loopback port."""
    cluster = KmockCluster().start()
    yield cluster
    cluster.stop()
