"""A recording pass-through in front of SeaweedFS's S3 API.

The workflows sign their requests (SigV4) for the proxy's host; the proxy
forwards them byte for byte, Host header included, so SeaweedFS verifies the
same signature. Every request line is kept, so a test can count the listing
calls a workflow made and the prefix each one asked for.
"""

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOOPBACK = "127.0.0.1"
HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding"})


@dataclass
class Recorded:
    """Requests seen: (method, path, query)."""

    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def listings(self, bucket: str) -> list[dict[str, list[str]]]:
        """Query strings of the object listings of ``bucket`` (v1 and v2)."""
        with self.lock:
            return [
                query
                for method, path, query in self.requests
                if method == "GET"
                and path.strip("/") == bucket
                and "location" not in query
            ]


def _handler(upstream_host: str, upstream_port: int, recorded: Recorded) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _forward(self) -> None:
            parts = urlsplit(self.path)
            with recorded.lock:
                recorded.requests.append(
                    (
                        self.command,
                        parts.path,
                        parse_qs(parts.query, keep_blank_values=True),
                    )
                )
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            connection = http.client.HTTPConnection(
                upstream_host, upstream_port, timeout=60
            )
            try:
                connection.putrequest(
                    self.command, self.path, skip_host=True, skip_accept_encoding=True
                )
                for name, value in self.headers.items():
                    if name.lower() not in HOP_HEADERS:
                        connection.putheader(name, value)
                connection.endheaders(body)
                response = connection.getresponse()
                payload = response.read()
            finally:
                connection.close()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in HOP_HEADERS | {"content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward  # noqa: N815

    return Handler


@contextmanager
def recording_proxy(upstream_url: str) -> Iterator[tuple[str, Recorded]]:
    """Serves a recording proxy of ``upstream_url``; yields its URL and records."""
    upstream = urlsplit(upstream_url)
    recorded = Recorded()
    server = ThreadingHTTPServer(
        (LOOPBACK, 0),
        _handler(str(upstream.hostname), int(upstream.port or 80), recorded),
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}", recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
