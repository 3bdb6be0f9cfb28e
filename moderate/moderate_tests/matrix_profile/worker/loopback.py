"""A scripted HTTP server on 127.0.0.1 for download and upload tests."""

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from moderate_tests.support.ports import LOOPBACK


@dataclass(frozen=True)
class Reply:
    """One scripted response."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    declare_length: bool = True


@dataclass
class Received:
    """One request the server saw."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """Replies per path; each request takes the next one, the last one repeats."""

    replies: dict[str, list[Reply]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    served: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def next_reply(self, path: str) -> Reply:
        route = path.split("?", 1)[0]
        queue = self.replies.get(route)
        if not queue:
            return Reply(404, b"no such object")
        position = min(self.served[route], len(queue) - 1)
        self.served[route] += 1
        return queue[position]


class LoopbackServer:
    """``ThreadingHTTPServer`` answering GET and PUT from a ``Script``."""

    def __init__(self) -> None:
        self.script = Script()
        script = self.script

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                script.received.append(
                    Received(self.command, self.path, dict(self.headers), body)
                )
                reply = script.next_reply(self.path)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                if reply.declare_length:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = _answer  # noqa: N815
            do_PUT = _answer  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def serve(self, path: str, *replies: Reply) -> str:
        """Scripts ``path`` and returns its URL (with a fake signature query)."""
        self.script.replies[path] = list(replies)
        return self.url(f"{path}?X-Amz-Signature=secret-signature")

    def start(self) -> "LoopbackServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
