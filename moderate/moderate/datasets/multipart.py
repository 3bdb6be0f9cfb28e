"""A ``multipart/form-data`` body streamed from a file on disk.

``requests`` reads a whole file into memory to encode ``files=``; this body
hands the file to the socket in chunks instead, knows its length up front (so
the request carries ``Content-Length``) and can be rewound for a retry.
"""

import io
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1024 * 1024
CRLF = b"\r\n"


def _quote(value: str) -> str:
    return value.replace('"', "%22").replace("\r", "").replace("\n", "")


class MultipartFileBody(io.RawIOBase):
    """Form fields followed by one file part, read lazily.

    Args:
        fields: Text form fields.
        file_field: Name of the file part.
        file_name: File name announced in the part.
        path: File whose bytes form the part.
        content_type: Content type of the file part.
    """

    def __init__(
        self,
        fields: Mapping[str, str],
        file_field: str,
        file_name: str,
        path: Path,
        content_type: str = "application/octet-stream",
    ) -> None:
        super().__init__()
        self._boundary = f"moderate-{uuid.uuid4().hex}"
        head = bytearray()
        for name, value in fields.items():
            head += f"--{self._boundary}\r\n".encode()
            head += f'Content-Disposition: form-data; name="{_quote(name)}"'.encode()
            head += CRLF * 2 + value.encode() + CRLF
        head += f"--{self._boundary}\r\n".encode()
        head += (
            f'Content-Disposition: form-data; name="{_quote(file_field)}"; '
            f'filename="{_quote(file_name)}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._head = bytes(head)
        self._tail = CRLF + f"--{self._boundary}--\r\n".encode()
        self._path = path
        self._file_size = path.stat().st_size
        self._file: BinaryIO | None = None
        self._position = 0

    @property
    def content_type(self) -> str:
        """The request's ``Content-Type`` header value."""
        return f"multipart/form-data; boundary={self._boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._file_size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK_BYTES):
            yield chunk

    def readable(self) -> bool:
        """The body can be read."""
        return True

    def seekable(self) -> bool:
        """The body can be rewound."""
        return True

    def tell(self) -> int:
        """Bytes read so far."""
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Moves the read position (absolute, relative or from the end)."""
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: len(self)}
        self._position = max(0, min(len(self), base[whence] + offset))
        return self._position

    def read(self, size: int = -1) -> bytes:
        """Reads up to ``size`` bytes (everything left when negative)."""
        remaining = len(self) - self._position
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        parts: list[bytes] = []
        while wanted > 0:
            piece = self._read_at(self._position, wanted)
            parts.append(piece)
            self._position += len(piece)
            wanted -= len(piece)
        return b"".join(parts)

    def close(self) -> None:
        """Closes the file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()

    def _read_at(self, position: int, size: int) -> bytes:
        head_end = len(self._head)
        file_end = head_end + self._file_size
        if position < head_end:
            return self._head[position : min(head_end, position + size)]
        if position < file_end:
            if self._file is None:
                self._file = self._path.open("rb")
            self._file.seek(position - head_end)
            piece = self._file.read(min(size, file_end - position))
            if not piece:
                raise OSError(f"{self._path} shrank while it was being sent")
            return piece
        start = position - file_end
        return self._tail[start : start + size]
