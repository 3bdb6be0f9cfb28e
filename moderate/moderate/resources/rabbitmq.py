"""RabbitMQ: connections and the queue declarations the API uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pydantic import Field

from moderate.resources.settings import EnvBackedResource

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel

DEFAULT_MATRIX_PROFILE_QUEUE = "matrix_profile"
DEAD_LETTER_SUFFIX = ".dead-letter"
SOCKET_TIMEOUT_S = 10.0
BLOCKED_CONNECTION_TIMEOUT_S = 30.0
CONNECTION_ATTEMPTS = 3
RETRY_DELAY_S = 1.0


class RabbitMQResource(EnvBackedResource):
    """The platform's message broker; its URL has credentials (``RABBIT_URL`` only)."""

    SERVICE_NAME = "RabbitMQ"
    ENV_VARS = {
        "url": "RABBIT_URL",
        "matrix_profile_queue": "MATRIX_PROFILE_QUEUE",
    }
    REQUIRED_FIELDS = ("url",)
    DEFAULTS = {"matrix_profile_queue": DEFAULT_MATRIX_PROFILE_QUEUE}
    SECRETS = ("url",)

    matrix_profile_queue: str | None = Field(
        default=None,
        description="Analysis request queue (default: $MATRIX_PROFILE_QUEUE or "
        "'matrix_profile').",
    )

    @property
    def queue(self) -> str:
        """Name of the matrix-profile request queue."""
        return self.setting("matrix_profile_queue") or DEFAULT_MATRIX_PROFILE_QUEUE

    @property
    def dead_letter_queue(self) -> str:
        """Name of the queue that keeps rejected requests."""
        return f"{self.queue}{DEAD_LETTER_SUFFIX}"

    @contextmanager
    def channel(self) -> Iterator[BlockingChannel]:
        """A channel on a new connection, both closed (unacked deliveries requeued)."""
        import pika

        parameters = pika.URLParameters(self.required_setting("url"))
        parameters.socket_timeout = SOCKET_TIMEOUT_S
        parameters.blocked_connection_timeout = BLOCKED_CONNECTION_TIMEOUT_S
        parameters.connection_attempts = CONNECTION_ATTEMPTS
        parameters.retry_delay = RETRY_DELAY_S
        with (
            pika.BlockingConnection(parameters) as connection,
            connection.channel() as channel,
        ):
            yield channel

    @staticmethod
    def declare_durable_queue(channel: BlockingChannel, queue: str) -> None:
        """Declares ``queue`` as the Platform API does (else PRECONDITION_FAILED)."""
        channel.queue_declare(
            queue=queue, durable=True, exclusive=False, auto_delete=False
        )

    def _probe(self) -> str:
        with self.channel() as channel:
            channel_number = channel.channel_number
        return f"connected (channel {channel_number} opened and closed)"
