"""Getting the input CSV and delivering the report, over presigned URLs or files.

HTTP uses the shared retry policy; logs show URLs without their signed query.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import url2pathname

import requests

from moderate.matrix_profile.worker.errors import (
    DownloadError,
    InputError,
    UploadError,
    WorkerError,
)
from moderate.matrix_profile.worker.options import BYTES_PER_MB, REPORT_CONTENT_TYPE
from moderate.support.http import RetrySettings, retrying_session

logger = logging.getLogger(__name__)

RETRY = RetrySettings(attempts=4, backoff_factor_s=1.0)
MAX_CONNECT_TIMEOUT_S = 10.0
HTTP_SCHEMES = frozenset({"http", "https"})
FILE_SCHEME = "file"
CHUNK_BYTES = 1024 * 1024
INPUT_PROBLEM_STATUSES = frozenset({401, 403, 404, 410})
INPUT_NAME = "input.csv"


def fetch_input(
    source: str, work_dir: Path, timeout_s: float, max_bytes: int
) -> tuple[Path, str]:
    """The input (http(s) or ``file://`` URL, or path) as a local file and its name.

    A download goes into ``work_dir``; the name never holds a URL query.

    Raises:
        InputError: Missing or refused object (401/403/404/410), a file over
            ``max_bytes``, an unsupported URL scheme.
        DownloadError: The server kept failing or could not be reached.
    """
    scheme = urlsplit(source).scheme.lower()
    if scheme in HTTP_SCHEMES:
        return _download(source, work_dir / INPUT_NAME, timeout_s, max_bytes)
    if scheme and scheme != FILE_SCHEME:
        raise InputError(
            f"Unsupported input URL scheme '{scheme}': give an http(s) URL, "
            "a file:// URL or a local path."
        )
    path = Path(url2pathname(urlsplit(source).path) if scheme else source)
    if not path.is_file():
        raise InputError(f"The input file '{path.name}' does not exist.")
    _check_size(path.stat().st_size, max_bytes)
    logger.info("reading local input %s", path)
    return path, path.name


def upload_report(url: str, body: bytes, timeout_s: float) -> None:
    """PUTs the report to a presigned URL signed for exactly ``text/html``.

    No charset is appended: the header must be the one the URL was signed with.

    Raises:
        UploadError: A refusal (4xx), or failures on every attempt.
    """
    logger.info("uploading %d bytes to %s", len(body), _redact(url))
    headers = {"Content-Type": REPORT_CONTENT_TYPE}
    failure = "The report could not be uploaded"
    with _response(
        "PUT", url, timeout_s, UploadError, failure, data=body, headers=headers
    ) as response:
        if not response.ok:
            raise UploadError(
                f"The report upload was refused (HTTP {response.status_code}); the "
                "upload link may have expired."
            )
    logger.info("report uploaded")


def write_report(path: Path, body: bytes) -> None:
    """Writes the report to ``path``, creating missing parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    logger.info("report written to %s (%d bytes)", path, len(body))


def _download(
    url: str, target: Path, timeout_s: float, max_bytes: int
) -> tuple[Path, str]:
    logger.info("downloading input from %s", _redact(url))
    failure = "The input file could not be downloaded"
    with _response(
        "GET", url, timeout_s, DownloadError, failure, stream=True
    ) as response:
        status = response.status_code
        if status in INPUT_PROBLEM_STATUSES:
            raise InputError(
                f"{failure} (HTTP {status}): it does not exist or the download link "
                "has expired."
            )
        if status >= requests.codes.bad_request:
            raise DownloadError(f"{failure} (HTTP {status}).")
        _check_size(int(response.headers.get("Content-Length") or 0), max_bytes)
        size = 0
        with target.open("wb") as sink:
            for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
                size += len(chunk)
                _check_size(size, max_bytes)
                sink.write(chunk)
    logger.info("downloaded %d bytes", size)
    return target, PurePosixPath(unquote(urlsplit(url).path)).name or INPUT_NAME


@contextmanager
def _response(
    method: str,
    url: str,
    timeout_s: float,
    error: type[WorkerError],
    failure: str,
    **options: Any,
) -> Iterator[requests.Response]:
    """A response on a retrying session; ``error`` when retries ran out.

    Connection errors name only their class: their text holds the signed URL.
    """
    try:
        with (
            retrying_session(RETRY) as http,
            http.request(
                method, url, timeout=_timeouts(timeout_s), **options
            ) as response,
        ):
            if response.status_code in RETRY.statuses:
                raise error(
                    f"{failure}: the storage answered HTTP {response.status_code} on "
                    "every attempt."
                )
            yield response
    except (requests.ConnectionError, requests.Timeout) as cause:
        raise error(
            f"{failure}: the storage could not be reached ({type(cause).__name__})."
        ) from None


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise InputError(
            f"The input file is too large ({size / BYTES_PER_MB:.1f} MB); "
            f"the limit is {max_bytes / BYTES_PER_MB:.0f} MB."
        )


def _timeouts(read_timeout_s: float) -> tuple[float, float]:
    return (min(MAX_CONNECT_TIMEOUT_S, read_timeout_s), read_timeout_s)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
