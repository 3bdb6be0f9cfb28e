"""Delivering the report: presigned PUT (with retries) or a local file."""

import logging
from pathlib import Path

import requests

from moderate.matrix_profile.worker.errors import UploadError
from moderate.matrix_profile.worker.transport import (
    TRANSIENT_STATUSES,
    describe_failure,
    redact,
    session,
    timeouts,
)

logger = logging.getLogger(__name__)

REPORT_CONTENT_TYPE = "text/html"


def upload_report(url: str, body: bytes, timeout_s: float) -> None:
    """PUTs the report to a presigned URL signed for ``text/html``.

    The ``Content-Type`` header must be exactly the one the URL was signed
    with, so no charset is appended.

    Args:
        url: Presigned PUT URL for exactly one key.
        body: The report.
        timeout_s: Read timeout of each attempt.

    Raises:
        UploadError: A refusal (4xx), or failures on every attempt.
    """
    shown = redact(url)

    def attempt() -> None:
        with session() as http:
            response = http.put(
                url,
                data=body,
                headers={"Content-Type": REPORT_CONTENT_TYPE},
                timeout=timeouts(timeout_s),
            )
        if response.status_code in TRANSIENT_STATUSES:
            raise UploadError(
                f"The report could not be uploaded: the storage answered HTTP "
                f"{response.status_code} on every attempt."
            )
        if not response.ok:
            raise UploadError(
                f"The report upload was refused (HTTP {response.status_code}); the "
                "upload link may have expired."
            )

    logger.info("uploading %d bytes to %s", len(body), shown)
    try:
        attempt()
    except (requests.ConnectionError, requests.Timeout) as error:
        raise UploadError(
            "The report could not be uploaded: the storage could not be reached "
            f"({describe_failure(error)})."
        ) from None
    logger.info("report uploaded")


def write_report(path: Path, body: bytes) -> None:
    """Writes the report to ``path``, creating missing parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    logger.info("report written to %s (%d bytes)", path, len(body))
