"""Getting the input CSV: presigned http(s) URL, ``file://`` URL or local path."""

import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import requests

from moderate.matrix_profile.worker.errors import DownloadError, InputError
from moderate.matrix_profile.worker.options import BYTES_PER_MB
from moderate.matrix_profile.worker.transport import (
    TRANSIENT_STATUSES,
    describe_failure,
    redact,
    session,
    timeouts,
)

logger = logging.getLogger(__name__)

HTTP_SCHEMES = frozenset({"http", "https"})
FILE_SCHEME = "file"
CHUNK_BYTES = 1024 * 1024
INPUT_PROBLEM_STATUSES = frozenset({401, 403, 404, 410})
DEFAULT_INPUT_NAME = "input.csv"
DOWNLOAD_FILE_NAME = "input.csv"


@dataclass(frozen=True)
class InputFile:
    """The input, on local disk.

    Attributes:
        path: Where the bytes are.
        name: File name to show in the report (never the URL's query).
    """

    path: Path
    name: str


def fetch_input(
    source: str, work_dir: Path, timeout_s: float, max_bytes: int
) -> InputFile:
    """Makes the input available as a local file.

    Args:
        source: Presigned http(s) URL, ``file://`` URL or local path.
        work_dir: Folder for the downloaded copy.
        timeout_s: Read timeout of each HTTP request.
        max_bytes: Largest input accepted.

    Returns:
        The local file.

    Raises:
        InputError: Missing or refused object (401/403/404/410), a file over
            ``max_bytes``, an unsupported URL scheme.
        DownloadError: The server kept failing or could not be reached.
    """
    scheme = urlsplit(source).scheme.lower()
    if scheme in HTTP_SCHEMES:
        return _download(source, work_dir / DOWNLOAD_FILE_NAME, timeout_s, max_bytes)
    if scheme == FILE_SCHEME:
        return _local(Path(url2pathname(urlsplit(source).path)), max_bytes)
    if scheme:
        raise InputError(
            f"Unsupported input URL scheme '{scheme}': give an http(s) URL, "
            "a file:// URL or a local path."
        )
    return _local(Path(source), max_bytes)


def input_name(source: str) -> str:
    """The file name of ``source`` for display, without any query string."""
    name = PurePosixPath(unquote(urlsplit(source).path)).name
    return name or DEFAULT_INPUT_NAME


def _too_large(size: int, max_bytes: int) -> InputError:
    return InputError(
        f"The input file is too large ({size / BYTES_PER_MB:.1f} MB); "
        f"the limit is {max_bytes / BYTES_PER_MB:.0f} MB."
    )


def _local(path: Path, max_bytes: int) -> InputFile:
    if not path.is_file():
        raise InputError(f"The input file '{path.name}' does not exist.")
    size = path.stat().st_size
    if size > max_bytes:
        raise _too_large(size, max_bytes)
    logger.info("reading local input %s (%d bytes)", path, size)
    return InputFile(path=path, name=path.name)


def _download(url: str, target: Path, timeout_s: float, max_bytes: int) -> InputFile:
    shown = redact(url)

    def attempt() -> int:
        with (
            session() as http,
            http.get(url, stream=True, timeout=timeouts(timeout_s)) as response,
        ):
            status = response.status_code
            if status in TRANSIENT_STATUSES:
                raise DownloadError(
                    f"The input file could not be downloaded: the storage answered "
                    f"HTTP {status} on every attempt."
                )
            if status in INPUT_PROBLEM_STATUSES:
                raise InputError(
                    f"The input file could not be downloaded (HTTP {status}): it "
                    "does not exist or the download link has expired."
                )
            if status >= requests.codes.bad_request:
                raise DownloadError(
                    f"The input file could not be downloaded (HTTP {status})."
                )
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise _too_large(declared, max_bytes)
            return _save(response, target, max_bytes)

    logger.info("downloading input from %s", shown)
    try:
        size = attempt()
    except (requests.ConnectionError, requests.Timeout) as error:
        raise DownloadError(
            "The input file could not be downloaded: the storage could not be "
            f"reached ({describe_failure(error)})."
        ) from None
    logger.info("downloaded %d bytes", size)
    return InputFile(path=target, name=input_name(url))


def _save(response: requests.Response, target: Path, max_bytes: int) -> int:
    size = 0
    with target.open("wb") as sink:
        for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(size, max_bytes)
            sink.write(chunk)
    return size
