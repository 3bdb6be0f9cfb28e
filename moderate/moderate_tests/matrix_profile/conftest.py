"""Fixtures of the matrix_profile tests."""

import uuid
from collections.abc import Iterator

import pytest

from moderate_tests.matrix_profile.kmock_cluster import KmockCluster


@pytest.fixture
def kmock_cluster() -> Iterator[KmockCluster]:
    """A fresh Kubernetes API emulator on a loopback port."""
    cluster = KmockCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def namespace() -> str:
    """A namespace name no other test uses."""
    return f"mp-test-{uuid.uuid4().hex[:8]}"
