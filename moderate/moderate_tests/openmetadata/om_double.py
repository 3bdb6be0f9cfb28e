"""An OpenMetadata server double over real loopback HTTP.

It answers what the ingestion workflows of this feature touch: the server
version, entity create-or-update (``PUT /api/v1/<collection>``), lookups by name
and id (404 when unknown), listings with paging, JSON-patch updates and pipeline
statuses. Entities get ids, fully qualified names and versions the way the
server assigns them. Every request is recorded for assertions, and a request
can be held (to simulate a server that hangs).
"""

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LOOPBACK = "127.0.0.1"
API_PREFIX = "/api"
DEFAULT_VERSION = "2.0.6"

# collection path -> (parent field, parent collection) for FQN building
PARENTS: dict[str, tuple[str, str] | None] = {
    "services/databaseServices": None,
    "services/storageServices": None,
    "databases": ("service", "services/databaseServices"),
    "databaseSchemas": ("database", "databases"),
    "tables": ("databaseSchema", "databaseSchemas"),
    "storedProcedures": ("databaseSchema", "databaseSchemas"),
    "services/ingestionPipelines": ("service", "services/databaseServices"),
    "classifications": None,
    "tags": ("classification", "classifications"),
    "services/testConnectionDefinitions": None,
}
ENTITY_TYPES: dict[str, str] = {
    "services/databaseServices": "databaseService",
    "services/storageServices": "storageService",
    "databases": "database",
    "databaseSchemas": "databaseSchema",
    "tables": "table",
    "storedProcedures": "storedProcedure",
    "services/ingestionPipelines": "ingestionPipeline",
    "classifications": "classification",
    "tags": "tag",
    "services/testConnectionDefinitions": "testConnectionDefinition",
}


def _step(name: str, mandatory: bool, short_circuit: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"{name} check",
        "errorMessage": f"{name} failed",
        "mandatory": mandatory,
        "shortCircuit": short_circuit,
    }


# The server seeds one test-connection definition per connector type.
TEST_CONNECTION_STEPS: dict[str, list[dict[str, Any]]] = {
    "Postgres": [
        _step("CheckAccess", mandatory=True, short_circuit=True),
        _step("GetSchemas", mandatory=True),
        _step("GetTables", mandatory=True),
        _step("GetViews", mandatory=False),
        _step("GetTags", mandatory=False),
        _step("GetQueries", mandatory=False),
    ],
    "Datalake": [_step("ListBuckets", mandatory=True, short_circuit=True)],
}
INHERITING_COLLECTIONS = frozenset(
    {"databases", "databaseSchemas", "tables", "storedProcedures"}
)
SEARCH_INDEXES: dict[str, str] = {
    "table_search_index": "tables",
    "database_search_index": "databases",
    "database_schema_search_index": "databaseSchemas",
    "stored_procedure_search_index": "storedProcedures",
}
COLLECTIONS = sorted(PARENTS, key=len, reverse=True)
_NEEDS_QUOTES = re.compile(r"[.\"]")


def quote_fqn_part(name: str) -> str:
    """Quotes an FQN part holding a dot, as the server does."""
    return f'"{name}"' if _NEEDS_QUOTES.search(name) else name


@dataclass
class RecordedRequest:
    """One request the double received."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None


@dataclass
class OpenMetadataDouble:
    """State and behaviour of the double."""

    token: str = "test-ingestion-bot-token"
    version: str = DEFAULT_VERSION
    version_delay_s: float = 0.0
    entities: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    pipeline_statuses: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )
    progress_updates: list[tuple[str, Any]] = field(default_factory=list)
    table_profiles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        """Seeds the test-connection definitions, as the server does at start."""
        store = self._store("services/testConnectionDefinitions")
        for connector, steps in TEST_CONNECTION_STEPS.items():
            fqn = f"{connector}.testConnectionDefinition"
            store[fqn] = {
                "id": str(uuid.uuid4()),
                "name": connector,
                "fullyQualifiedName": fqn,
                "displayName": f"{connector} Test Connection",
                "steps": steps,
                "version": 0.1,
                "deleted": False,
            }

    # ---- entity store -------------------------------------------------
    def _store(self, collection: str) -> dict[str, dict[str, Any]]:
        return self.entities.setdefault(collection, {})

    def by_fqn(self, collection: str, fqn: str) -> dict[str, Any] | None:
        """An entity by fully qualified name."""
        return self._store(collection).get(fqn)

    def by_id(self, collection: str, entity_id: str) -> dict[str, Any] | None:
        """An entity by id."""
        for entity in self._store(collection).values():
            if entity["id"] == entity_id:
                return entity
        return None

    def names(self, collection: str) -> list[str]:
        """Fully qualified names stored in ``collection``."""
        return sorted(self._store(collection))

    def _reference(self, collection: str, entity: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": entity["id"],
            "type": ENTITY_TYPES[collection],
            "name": entity["name"],
            "fullyQualifiedName": entity["fullyQualifiedName"],
            "deleted": False,
        }

    def _resolve_parent(self, collection: str, body: dict[str, Any]) -> tuple:
        spec = PARENTS.get(collection)
        if spec is None:
            return None, None, None
        parent_field, parent_collection = spec
        value = body.get(parent_field)
        if isinstance(value, dict):
            parent = self.by_id(parent_collection, str(value.get("id")))
            if parent is None and value.get("fullyQualifiedName"):
                parent = self.by_fqn(parent_collection, value["fullyQualifiedName"])
        else:
            parent = self.by_fqn(parent_collection, str(value))
            if parent is None and collection == "services/ingestionPipelines":
                parent = self.by_fqn("services/storageServices", str(value))
                parent_collection = "services/storageServices"
        return parent_field, parent_collection, parent

    def create_or_update(self, collection: str, body: dict[str, Any]) -> tuple:
        """PUT semantics: create (201) or update (200) by FQN."""
        parent_field, parent_collection, parent = self._resolve_parent(collection, body)
        if parent_field is not None and parent is None:
            return HTTPStatus.NOT_FOUND, _error(
                404, f"{parent_field} instance for {body.get(parent_field)} not found"
            )
        name = str(body["name"])
        prefix = f"{parent['fullyQualifiedName']}." if parent else ""
        fqn = f"{prefix}{quote_fqn_part(name)}"
        existing = self.by_fqn(collection, fqn)
        entity = {**(existing or {}), **body}
        entity["name"] = name
        entity["fullyQualifiedName"] = fqn
        entity["id"] = existing["id"] if existing else str(uuid.uuid4())
        entity["version"] = round((existing or {}).get("version", 0.0) + 0.1, 1)
        entity["updatedAt"] = int(time.time() * 1000)
        entity["updatedBy"] = "ingestion-bot"
        entity["deleted"] = False
        entity["href"] = f"http://{LOOPBACK}/api/v1/{collection}/{entity['id']}"
        if parent is not None:
            entity[parent_field] = self._reference(parent_collection, parent)
            if collection in INHERITING_COLLECTIONS:
                for inherited in ("service", "database", "serviceType"):
                    if inherited in parent and inherited not in body:
                        entity[inherited] = parent[inherited]
        self._store(collection)[fqn] = entity
        status = HTTPStatus.OK if existing else HTTPStatus.CREATED
        return status, entity

    def bulk(self, collection: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
        """``PUT /<collection>/bulk``: create-or-update each, report per request."""
        passed: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for body in bodies:
            status, entity = self.create_or_update(collection, body)
            if status in (HTTPStatus.OK, HTTPStatus.CREATED):
                passed.append(
                    {"request": entity["fullyQualifiedName"], "status": int(status)}
                )
            else:
                failed.append(
                    {
                        "request": body.get("name"),
                        "message": entity["message"],
                        "status": 404,
                    }
                )
        return _bulk_result(passed, failed)

    def delete_stale(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        """``DELETE /<collection>/deleteStale``: soft-deletes unseen children."""
        scope = str(body.get("scopeFqn", ""))
        seen = set(body.get("seenFqns") or [])
        deleted = []
        for fqn, entity in self._store(collection).items():
            if (
                fqn.startswith(f"{scope}.")
                and fqn not in seen
                and not entity["deleted"]
            ):
                entity["deleted"] = True
                deleted.append({"request": fqn, "status": 200})
        return _bulk_result(deleted, [])

    def listing(self, collection: str, query: dict[str, list[str]]) -> list[dict]:
        """Entities of ``collection``, filtered by parent FQN query parameters."""
        items = [e for e in self._store(collection).values() if not e["deleted"]]
        for parent_field in ("service", "database", "databaseSchema", "classification"):
            wanted = query.get(parent_field)
            if wanted:
                items = [
                    e
                    for e in items
                    if (e.get(parent_field) or {}).get("fullyQualifiedName")
                    == wanted[0]
                ]
        return items

    def pipeline_route(self, method: str, rest: str, body: Any) -> tuple | None:
        """Ingestion-pipeline progress and status endpoints; None if not one."""
        if method == "PUT" and rest.startswith("progress/"):
            fqn = unquote(rest[len("progress/") :].rsplit("/", 1)[0])
            self.progress_updates.append((fqn, body))
            return 200, {}
        marker = "/pipelineStatus"
        if marker not in rest:
            return None
        encoded, _, run_id = rest.partition(marker)
        fqn = unquote(encoded)
        if self.by_fqn("services/ingestionPipelines", fqn) is None:
            return 404, _error(404, f"ingestionPipeline instance for {fqn} not found")
        statuses = self.pipeline_statuses.setdefault(fqn, {})
        run_id = run_id.lstrip("/")
        if method == "PUT" and not run_id:
            statuses[str(body["runId"])] = body
            return 200, body
        if method == "GET" and run_id:
            status = statuses.get(run_id)
            # The server answers an unknown run with an empty 204, not a 404.
            return (200, status) if status else (204, None)
        if method == "GET":
            data = list(statuses.values())
            return 200, {"data": data, "paging": {"total": len(data)}}
        return 405, _error(405, "HTTP 405 Method Not Allowed")

    def put_table_profile(self, table_id: str, body: dict[str, Any]) -> tuple:
        """``PUT /tables/{id}/tableProfile``: stores the latest profile."""
        table = self.by_id("tables", table_id)
        if table is None:
            return 404, _error(404, f"table instance for {table_id} not found")
        table["profile"] = body.get("tableProfile")
        columns = {column["name"]: column for column in table.get("columns", [])}
        for profile in body.get("columnProfile") or []:
            column = columns.get(profile.get("name"))
            if column is not None:
                column["profile"] = profile
        self.table_profiles.setdefault(table["fullyQualifiedName"], []).append(body)
        return 200, table

    def latest_table_profile(self, fqn: str) -> tuple:
        """``GET /tables/{fqn}/tableProfile/latest``: the table with its profile."""
        table = self.by_fqn("tables", fqn)
        if table is None:
            return 404, _error(404, f"table instance for {fqn} not found")
        return 200, table

    def search_field(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """``GET /search/fieldQuery``: exact match of one field in one index."""
        collection = SEARCH_INDEXES.get((query.get("index") or [""])[0])
        field_name = (query.get("fieldName") or [""])[0]
        value = (query.get("fieldValue") or [""])[0]
        hits = []
        if collection is not None:
            for entity in self._store(collection).values():
                if not entity["deleted"] and str(entity.get(field_name)) == value:
                    hits.append(
                        {"_index": collection, "_id": entity["id"], "_source": entity}
                    )
        return {"hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": hits}}


def _bulk_result(passed: list[dict], failed: list[dict]) -> dict[str, Any]:
    return {
        "dryRun": False,
        "numberOfRowsProcessed": len(passed) + len(failed),
        "numberOfRowsPassed": len(passed),
        "numberOfRowsFailed": len(failed),
        "successRequest": passed,
        "failedRequest": failed,
    }


def _error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def _split_collection(path: str) -> tuple[str, str] | None:
    for collection in COLLECTIONS:
        if path == collection or path.startswith(f"{collection}/"):
            return collection, path[len(collection) :].lstrip("/")
    return None


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # ---- plumbing -----------------------------------------------------
    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _send(self, status: int, payload: Any) -> None:
        if payload is None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        double = self.server.double
        parts = urlsplit(self.path)
        body = self._body()
        record = RecordedRequest(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query),
            body=body,
            authorization=self.headers.get("Authorization"),
        )
        with double.lock:
            double.requests.append(record)
        if record.authorization != f"Bearer {double.token}":
            self._send(401, _error(401, "Not authorized; Token not valid"))
            return
        if not parts.path.startswith(f"{API_PREFIX}/v1/"):
            self._send(404, _error(404, "HTTP 404 Not Found"))
            return
        path = parts.path[len(API_PREFIX) + len("/v1/") :]
        if method == "GET" and path == "system/version":
            if double.version_delay_s:
                time.sleep(double.version_delay_s)
            self._send(
                200,
                {"version": double.version, "revision": "double", "timestamp": 0},
            )
            return
        with double.lock:
            status, payload = self._route(double, method, path, record)
        self._send(status, payload)

    def _route(
        self,
        double: OpenMetadataDouble,
        method: str,
        path: str,
        record: RecordedRequest,
    ) -> tuple[int, Any]:
        if method == "GET" and path.startswith("system/settings/"):
            # A fresh server holds no custom settings: an empty answer.
            return 204, None
        if method == "GET" and path == "search/fieldQuery":
            return 200, double.search_field(record.query)
        split = _split_collection(path)
        if split is None:
            return 404, _error(404, f"unknown resource {path}")
        collection, rest = split
        if method == "PUT" and rest == "":
            return double.create_or_update(collection, record.body)
        if method == "POST" and rest == "":
            return double.create_or_update(collection, record.body)
        if method == "PUT" and rest == "bulk":
            return 200, double.bulk(collection, record.body or [])
        if method == "DELETE" and rest == "deleteStale":
            return 200, double.delete_stale(collection, record.body or {})
        if method == "GET" and rest == "":
            items = double.listing(collection, record.query)
            return 200, {"data": items, "paging": {"total": len(items)}}
        if method == "GET" and rest.startswith("name/"):
            fqn = unquote(rest[len("name/") :])
            entity = double.by_fqn(collection, fqn)
            if entity is None:
                return 404, _error(
                    404, f"{ENTITY_TYPES[collection]} instance for {fqn} not found"
                )
            return 200, entity
        if collection == "services/ingestionPipelines":
            handled = double.pipeline_route(method, rest, record.body)
            if handled is not None:
                return handled
        if collection == "tables" and rest.endswith("/tableProfile"):
            return double.put_table_profile(rest.split("/")[0], record.body or {})
        if collection == "tables" and rest.endswith("/tableProfile/latest"):
            return double.latest_table_profile(unquote(rest.split("/")[0]))
        entity = double.by_id(collection, rest.split("/")[0])
        if entity is None:
            return 404, _error(
                404, f"{ENTITY_TYPES[collection]} instance for {rest} not found"
            )
        if method == "GET":
            return 200, entity
        if method == "PATCH":
            return 200, entity
        return 405, _error(405, "HTTP 405 Method Not Allowed")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, double: OpenMetadataDouble) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.double = double


@dataclass(frozen=True)
class RunningDouble:
    """A started double: its state and where it listens."""

    double: OpenMetadataDouble
    host: str
    port: int

    @property
    def host_port(self) -> str:
        """Server URL as the ingestion client wants it (``/api`` suffix)."""
        return f"http://{self.host}:{self.port}{API_PREFIX}"


@contextmanager
def serve(double: OpenMetadataDouble) -> Iterator[RunningDouble]:
    """Serves ``double`` on a free loopback port until the block exits."""
    server = _Server(double)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RunningDouble(double=double, host=LOOPBACK, port=server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
