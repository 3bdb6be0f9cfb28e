"""Shared plumbing of the HTTP test doubles.

A double is a real HTTP/1.1 server on the loopback interface, run in a daemon
thread. Subclasses implement :meth:`HttpDouble.handle`; the base class records
every request and injects faults (error statuses, stalls, dropped connections)
before a request reaches the subclass.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import parse_qs, urlsplit

from requests.structures import CaseInsensitiveDict

LOOPBACK_HOST = "127.0.0.1"
EPHEMERAL_PORT = 0
JSON_CONTENT_TYPE = "application/json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
SERVE_POLL_INTERVAL_S = 0.05
STOP_JOIN_TIMEOUT_S = 5.0
CHUNK_SIZE_RADIX = 16
CRLF = b"\r\n"
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True)
class HttpRequest:
    """One request as received, also the entry type of the request log."""

    method: str
    path: str
    query_string: str
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict[str]
    body: bytes
    received_at: float

    def header(self, name: str) -> str | None:
        """A header value (case-insensitive name), or None."""
        return self.headers.get(name)

    def query_value(self, name: str) -> str | None:
        """The last value of a query parameter, or None when absent."""
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body decoded as an URL-encoded form (last value wins)."""
        parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {name: values[-1] for name, values in parsed.items()}

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower-case ('' when absent)."""
        value = self.header("Content-Type") or ""
        return value.split(";", 1)[0].strip().lower()


@dataclass
class HttpResponse:
    """A response to send back."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


class HttpError(Exception):
    """Raised by handlers to answer with an error status."""

    def __init__(self, status: int, payload: Any, *, plain: bool = False) -> None:
        super().__init__(f"HTTP {status}: {payload!r}")
        self.status = status
        self.payload = payload
        self.plain = plain

    def response(self) -> HttpResponse:
        """The response this error stands for."""
        if self.plain:
            return text_response(str(self.payload), self.status)
        return json_response(self.payload, self.status)


def json_response(
    payload: Any,
    status: int = HTTPStatus.OK,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """A JSON response (compact encoding, like the real servers)."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8")
    all_headers = {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}
    return HttpResponse(int(status), body, all_headers)


def text_response(
    text: str, status: int, content_type: str = TEXT_CONTENT_TYPE
) -> HttpResponse:
    """A plain text response."""
    return HttpResponse(
        int(status), text.encode("utf-8"), {"Content-Type": content_type}
    )


def status_phrase(status: int) -> str:
    """The standard reason phrase of a status code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def gateway_error_page(status: int) -> HttpResponse:
    """An HTML error page as a reverse proxy sends it for 5xx statuses."""
    title = f"{status} {status_phrase(status)}"
    page = (
        f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    )
    return text_response(page, status, HTML_CONTENT_TYPE)


def naive_utc(moment: datetime) -> datetime:
    """Drops the offset of an aware datetime after converting it to UTC."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


# --------------------------------------------------------------------- routing

H = TypeVar("H")
_PARAM_PATTERN = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class _Route(Generic[H]):
    method: str
    pattern: re.Pattern[str]
    handler: H


class Router(Generic[H]):
    """Maps method and path templates such as ``/asset/{asset_id}`` to handlers.

    Routes are tried in the order they were added, so add literal paths
    before templated ones that could also match them.
    """

    def __init__(self) -> None:
        self._routes: list[_Route[H]] = []

    def add(self, method: str, template: str, handler: H) -> None:
        """Registers ``handler`` for ``method`` on ``template``."""
        self._routes.append(_Route(method, _template_regex(template), handler))

    def resolve(self, method: str, path: str) -> tuple[H, dict[str, str]]:
        """The handler and path parameters of a request.

        Raises:
            HttpError: 404 when no template matches, 405 when only the method
                differs.
        """
        path_matched = False
        for route in self._routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            path_matched = True
            if route.method == method:
                return route.handler, match.groupdict()
        if path_matched:
            raise HttpError(
                HTTPStatus.METHOD_NOT_ALLOWED, {"detail": "Method Not Allowed"}
            )
        raise HttpError(HTTPStatus.NOT_FOUND, {"detail": "Not Found"})


def _template_regex(template: str) -> re.Pattern[str]:
    pieces: list[str] = []
    position = 0
    for match in _PARAM_PATTERN.finditer(template):
        pieces.append(re.escape(template[position : match.start()]))
        pieces.append(f"(?P<{match.group(1)}>[^/]+)")
        position = match.end()
    pieces.append(re.escape(template[position:]))
    return re.compile("^" + "".join(pieces) + "$")


# ----------------------------------------------------------------- multipart


@dataclass(frozen=True)
class MultipartPart:
    """One part of a ``multipart/form-data`` body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    def text(self) -> str:
        """The part decoded as UTF-8."""
        return self.data.decode("utf-8")


class MultipartError(ValueError):
    """The body is not valid ``multipart/form-data``."""


_BOUNDARY_PATTERN = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(r'(\w+\*?)="((?:[^"\\]|\\.)*)"|(\w+\*?)=([^;\s]+)')


def parse_multipart(content_type: str, body: bytes) -> list[MultipartPart]:
    """Splits a ``multipart/form-data`` body into its parts, bytes unchanged.

    Raises:
        MultipartError: On a missing boundary or a malformed part.
    """
    match = _BOUNDARY_PATTERN.search(content_type)
    if match is None:
        raise MultipartError("Missing boundary in multipart content type")
    delimiter = b"--" + match.group(1).encode("latin-1")
    sections = body.split(CRLF + delimiter)
    first = sections[0]
    if not first.startswith(delimiter):
        raise MultipartError("Body does not start with the boundary")
    sections[0] = first[len(delimiter) :]
    parts: list[MultipartPart] = []
    for section in sections:
        if section.startswith(b"--"):
            break
        parts.append(_parse_part(section.removeprefix(CRLF)))
    return parts


def _parse_part(section: bytes) -> MultipartPart:
    head, separator, data = section.partition(CRLF + CRLF)
    if not separator:
        raise MultipartError("Part without a header block")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    params = _disposition_params(headers.get("content-disposition", ""))
    if "name" not in params:
        raise MultipartError("Part without a name")
    return MultipartPart(
        name=params["name"],
        filename=params.get("filename"),
        content_type=headers.get("content-type"),
        data=data,
    )


def _disposition_params(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for quoted_key, quoted_value, bare_key, bare_value in _DISPOSITION_PARAM.findall(
        value
    ):
        key = (quoted_key or bare_key).lower()
        params[key] = quoted_value.replace('\\"', '"') if quoted_key else bare_value
    return params


# -------------------------------------------------------------- fault rules


@dataclass
class _FaultRule:
    path_prefix: str
    method: str | None
    remaining: int
    after_processing: bool = False
    status: int = HTTPStatus.SERVICE_UNAVAILABLE
    body: Any = None
    seconds: float = 0.0
    retry_after: str | None = None

    def matches(self, request: HttpRequest) -> bool:
        method_ok = self.method is None or self.method.upper() == request.method
        return method_ok and request.path.startswith(self.path_prefix)


def _take(rules: list[_FaultRule], request: HttpRequest) -> _FaultRule | None:
    for rule in rules:
        if rule.matches(request):
            rule.remaining -= 1
            if rule.remaining <= 0:
                rules.remove(rule)
            return rule
    return None


class _DropConnectionError(Exception):
    """Internal signal: close the socket without answering."""


# ------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], double: HttpDouble) -> None:
        super().__init__(address, _Handler)
        self.double = double
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()

    def close_open_connections(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
            self.open_sockets.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Keeps test output quiet."""

    def _serve(self) -> None:
        try:
            request = self._read_request()
        except (OSError, ValueError):
            self.close_connection = True
            return
        try:
            response = self.server.double.serve(request)
        except _DropConnectionError:
            self.close_connection = True
            self._drop()
            return
        self._write(response, send_body=request.method != "HEAD")

    def __getattr__(self, name: str) -> Any:
        """Serves every method of :data:`HTTP_METHODS` with one ``do_*`` handler."""
        if name.startswith("do_") and name.removeprefix("do_") in HTTP_METHODS:
            return self._serve
        raise AttributeError(name)

    def _read_request(self) -> HttpRequest:
        parts = urlsplit(self.path)
        return HttpRequest(
            method=self.command.upper(),
            path=parts.path,
            query_string=parts.query,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=CaseInsensitiveDict(dict(self.headers.items())),
            body=self._read_body(),
            received_at=time.time(),
        )

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline()
            size = int(size_line.split(b";", 1)[0].strip() or b"0", CHUNK_SIZE_RADIX)
            if size == 0:
                while self.rfile.readline() not in (CRLF, b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _write(self, response: HttpResponse, *, send_body: bool) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if send_body:
                self.wfile.write(response.body)
        except OSError:
            self.close_connection = True

    def _drop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class HttpDouble(ABC):
    """Base class of the HTTP doubles: lifecycle, request log, faults, clock.

    All state of a double is guarded by :attr:`lock`; requests are handled
    while holding it, except for injected stalls.

    Args:
        host: Address to bind (loopback by default).
        port: Port to bind (0 lets the OS choose).
    """

    def __init__(self, host: str = LOOPBACK_HOST, port: int = EPHEMERAL_PORT) -> None:
        self.lock = threading.RLock()
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._log: list[HttpRequest] = []
        self._failures: list[_FaultRule] = []
        self._delays: list[_FaultRule] = []
        self._drops: list[_FaultRule] = []
        self._clock_offset_s = 0.0
        self._handler_errors: list[Exception] = []

    # lifecycle ------------------------------------------------------------

    def start(self) -> Self:
        """Binds the socket and serves in a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self._host, self._port), self)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SERVE_POLL_INTERVAL_S},
            name=f"{type(self).__name__}:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the listening and open sockets."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_open_connections()
        if thread is not None:
            thread.join(STOP_JOIN_TIMEOUT_S)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return self._port

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:40123`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self._host}:{self._port}"

    # clock ------------------------------------------------------------------

    def now(self) -> float:
        """The double's clock (epoch seconds), shifted by :meth:`advance_clock`."""
        return time.time() + self._clock_offset_s

    def utcnow(self) -> datetime:
        """The double's clock as a naive UTC datetime."""
        return datetime.now(UTC).replace(tzinfo=None) + timedelta(
            seconds=self._clock_offset_s
        )

    def advance_clock(self, seconds: float) -> None:
        """Moves the double's clock forward (token expiry, task completion)."""
        with self.lock:
            self._clock_offset_s += seconds

    # request log ------------------------------------------------------------

    @property
    def requests(self) -> list[HttpRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self.lock:
            return list(self._log)

    def requests_to(
        self, path_prefix: str, method: str | None = None
    ) -> list[HttpRequest]:
        """Logged requests whose path starts with ``path_prefix``."""
        wanted = method.upper() if method else None
        return [
            request
            for request in self.requests
            if request.path.startswith(path_prefix)
            and (wanted is None or request.method == wanted)
        ]

    @property
    def handler_errors(self) -> list[Exception]:
        """Unexpected exceptions raised while handling requests (answered 500)."""
        with self.lock:
            return list(self._handler_errors)

    def clear_requests(self) -> None:
        """Empties the request log."""
        with self.lock:
            self._log.clear()

    # faults -------------------------------------------------------------------

    def fail_next(
        self,
        path_prefix: str,
        status: int = HTTPStatus.SERVICE_UNAVAILABLE,
        times: int = 1,
        *,
        method: str | None = None,
        body: Any = None,
        retry_after: str | None = None,
    ) -> None:
        """Answers the next ``times`` matching requests with ``status``.

        The request is not processed. Without ``body`` the answer is the HTML
        error page a reverse proxy sends; a ``str`` body is sent as text and
        anything else as JSON. ``retry_after`` adds that ``Retry-After`` header.
        """
        rule = _FaultRule(
            path_prefix,
            method,
            times,
            status=int(status),
            body=body,
            retry_after=retry_after,
        )
        with self.lock:
            self._failures.append(rule)

    def delay_next(
        self,
        path_prefix: str,
        seconds: float,
        times: int = 1,
        *,
        method: str | None = None,
        after_processing: bool = False,
    ) -> None:
        """Stalls the next ``times`` matching requests for ``seconds``.

        With ``after_processing`` the request takes effect first and only the
        answer is late, as when a client times out on a call that succeeded.
        """
        rule = _FaultRule(
            path_prefix,
            method,
            times,
            after_processing=after_processing,
            seconds=seconds,
        )
        with self.lock:
            self._delays.append(rule)

    def disconnect_next(
        self,
        path_prefix: str,
        times: int = 1,
        *,
        method: str | None = None,
        after_processing: bool = False,
    ) -> None:
        """Closes the connection of the next ``times`` matching requests unanswered."""
        rule = _FaultRule(path_prefix, method, times, after_processing=after_processing)
        with self.lock:
            self._drops.append(rule)

    def clear_faults(self) -> None:
        """Forgets every pending injected fault."""
        with self.lock:
            self._failures.clear()
            self._delays.clear()
            self._drops.clear()

    # serving ------------------------------------------------------------------

    def serve(self, request: HttpRequest) -> HttpResponse:
        """Records ``request``, applies faults and delegates to :meth:`handle`."""
        with self.lock:
            self._log.append(request)
            delay = _take(self._delays, request)
            drop = _take(self._drops, request)
            failure = _take(self._failures, request)
        if delay is not None and not delay.after_processing:
            self._stopping.wait(delay.seconds)
        if drop is not None and not drop.after_processing:
            raise _DropConnectionError
        if failure is not None:
            return _failure_response(failure)
        standing = self.standing_fault(request)
        if standing is not None:
            return standing
        response = self._handle_locked(request)
        if delay is not None and delay.after_processing:
            self._stopping.wait(delay.seconds)
        if drop is not None:
            raise _DropConnectionError
        return response

    def _handle_locked(self, request: HttpRequest) -> HttpResponse:
        with self.lock:
            try:
                return self.handle(request)
            except HttpError as error:
                return error.response()
            # Like a real server, any failure of a handler becomes a 500; it is
            # recorded so that a test can see it.
            except Exception as error:  # noqa: BLE001
                self._handler_errors.append(error)
                return text_response(
                    "Internal Server Error", HTTPStatus.INTERNAL_SERVER_ERROR
                )

    def standing_fault(self, request: HttpRequest) -> HttpResponse | None:
        """A fault answer for ``request`` from the double's own state, or None.

        Called without :attr:`lock` held, so a slow fault does not stall other
        requests; subclasses override it.
        """
        return None

    @abstractmethod
    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answers one request; called with :attr:`lock` held."""


def _failure_response(rule: _FaultRule) -> HttpResponse:
    if rule.body is None:
        response = gateway_error_page(rule.status)
    elif isinstance(rule.body, str):
        response = text_response(rule.body, rule.status)
    else:
        response = json_response(rule.body, rule.status)
    if rule.retry_after is not None:
        response.headers["Retry-After"] = rule.retry_after
    return response
