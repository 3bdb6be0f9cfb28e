"""Dagster Pipes pieces of the processes the features run (subprocess or Job)."""

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dagster import PipesMessageReader
from dagster._core.pipes.utils import extract_message_or_forward_to_file
from dagster_pipes import PipesDefaultMessageWriter


def custom_message(
    messages: Sequence[Any], message_type: str
) -> Mapping[str, Any] | None:
    """The last of the Pipes custom ``messages`` whose ``type`` is ``message_type``."""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("type") == message_type:
            return message
    return None


class JobLogMessageReader(PipesMessageReader):
    """Pipes messages from a Kubernetes Job's log, read after the Job ended."""

    handler: Any = None

    @contextmanager
    def read_messages(self, handler: Any) -> Iterator[Mapping[str, Any]]:
        """Keeps the handler; the process writes its messages to stderr."""
        self.handler = handler
        yield {PipesDefaultMessageWriter.STDIO_KEY: PipesDefaultMessageWriter.STDERR}

    def read_log(self, log: str) -> str:
        """Hands every message line to the session; returns the other lines."""
        rest = io.StringIO()
        for line in log.splitlines():
            extract_message_or_forward_to_file(self.handler, line, rest)
        return rest.getvalue()

    def no_messages_debug_text(self) -> str:
        """Where the messages were looked for."""
        return "Read the messages from the Kubernetes Job's log after it ended."
