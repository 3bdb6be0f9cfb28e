"""Unique queues on the local RabbitMQ broker."""

import os
import uuid

RABBIT_URL = os.environ.get(
    "MODERATE_TEST_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"
)


def unique_queue_name(prefix: str = "moderate_test") -> str:
    """A queue name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
