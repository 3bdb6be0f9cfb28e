"""Errors of the worker and the exit codes they map to."""

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_INPUT = 2
MAX_MESSAGE_CHARS = 500
ELLIPSIS = "..."
ERROR_PREFIX = "moderate-mp-error: "
GENERIC_FAILURE = (
    "The analysis job failed. Please check the input data format and ensure the "
    "analysis variable exists in the dataset."
)


def clip_message(message: str) -> str:
    """``message`` on one line, cut to at most 500 characters."""
    one_line = " ".join(message.split())
    if len(one_line) <= MAX_MESSAGE_CHARS:
        return one_line
    return one_line[: MAX_MESSAGE_CHARS - len(ELLIPSIS)] + ELLIPSIS


class WorkerError(Exception):
    """A failure the worker explains to the user in one line (``exit_code``)."""

    exit_code: int = EXIT_UNEXPECTED

    def __init__(self, message: str) -> None:
        super().__init__(clip_message(message))


class InputError(WorkerError):
    """The input cannot be analysed (download refused, not a CSV, bad values...)."""

    exit_code = EXIT_INPUT


class DownloadError(WorkerError):
    """The input could not be downloaded for a reason that is not the user's."""


class UploadError(WorkerError):
    """The report could not be uploaded."""
