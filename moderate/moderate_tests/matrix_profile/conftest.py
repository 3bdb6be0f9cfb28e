"""Fixtures of the matrix_profile tests."""

import uuid

import pytest


@pytest.fixture
def namespace() -> str:
    """A namespace name no other test uses."""
    return f"mp-test-{uuid.uuid4().hex[:8]}"
