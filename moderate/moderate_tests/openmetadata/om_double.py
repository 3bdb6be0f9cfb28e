"""An OpenMetadata server double over real loopback HTTP.

It answers what the ingestion workflows and the lineage, owner and data-quality
steps of this feature touch, as a 2.0 server does: the server version, entity
create-or-update (``PUT /api/v1/<collection>``), lookups by name and id (404 when
unknown), listings paged with ``limit`` (default 10) and an opaque ``after``
cursor, JSON Patch (RFC 6902) applied to the stored entity, soft and hard
deletes, lineage edges (``PUT /lineage``, ``GET /lineage/<type>/name/<fqn>``,
``GET /lineage/getLineageEdge/...``), test cases and their results, and pipeline
statuses. Entities get ids, fully qualified names and versions the way the
server assigns them. Every request is recorded for assertions.
"""

import base64
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

import jsonpatch

LOOPBACK = "127.0.0.1"
API_PREFIX = "/api"
DEFAULT_VERSION = "2.0.6"
DEFAULT_PAGE_LIMIT = 10
"""The server's default ``limit`` of a listing."""
MAX_PAGE_LIMIT = 1_000_000

# collection path -> (parent field, parent collection) for FQN building
PARENTS: dict[str, tuple[str, str] | None] = {
    "services/databaseServices": None,
    "services/storageServices": None,
    "databases": ("service", "services/databaseServices"),
    "databaseSchemas": ("database", "databases"),
    "tables": ("databaseSchema", "databaseSchemas"),
    "storedProcedures": ("databaseSchema", "databaseSchemas"),
    "services/ingestionPipelines": ("service", "services/databaseServices"),
    "services/pipelineServices": None,
    "pipelines": ("service", "services/pipelineServices"),
    "users": None,
    "dataQuality/testDefinitions": None,
    "dataQuality/testSuites": None,
    "dataQuality/testCases": None,
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
    "services/pipelineServices": "pipelineService",
    "pipelines": "pipeline",
    "users": "user",
    "dataQuality/testDefinitions": "testDefinition",
    "dataQuality/testSuites": "testSuite",
    "dataQuality/testCases": "testCase",
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
    "Dagster": [_step("GetPipelines", mandatory=True, short_circuit=True)],
}
INHERITING_COLLECTIONS = frozenset(
    {"databases", "databaseSchemas", "tables", "storedProcedures"}
)
SEARCH_INDEXES: dict[str, str] = {
    "table_search_index": "tables",
    "database_search_index": "databases",
    "database_schema_search_index": "databaseSchemas",
    "stored_procedure_search_index": "storedProcedures",
    "pipeline_search_index": "pipelines",
}
TYPE_COLLECTIONS = {value: key for key, value in ENTITY_TYPES.items()}
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
    lineage: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    test_case_results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
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
        """``DELETE /<collection>/deleteStale``: soft-deletes unseen entities.

        With ``recursive`` (schemas), everything under them goes too.
        """
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
                if body.get("recursive"):
                    for _, child in self._children(entity):
                        child["deleted"] = True
        return _bulk_result(deleted, [])

    def listing(self, collection: str, query: dict[str, list[str]]) -> tuple:
        """A page of ``collection``, as ``GET /<collection>`` answers it.

        Filtered by parent FQN query parameters and ``include`` (``non-deleted``
        by default, ``deleted``, ``all``); ordered by FQN; ``limit`` entities
        (default 10) from the ``after`` cursor on, with the next cursor in
        ``paging.after`` while more remain.
        """
        include = (query.get("include") or ["non-deleted"])[0]
        items = sorted(
            (
                entity
                for entity in self._store(collection).values()
                if include == "all" or entity["deleted"] == (include == "deleted")
            ),
            key=lambda entity: entity["fullyQualifiedName"],
        )
        for parent_field in ("service", "database", "databaseSchema", "classification"):
            wanted = query.get(parent_field)
            if wanted:
                items = [
                    e
                    for e in items
                    if (e.get(parent_field) or {}).get("fullyQualifiedName")
                    == wanted[0]
                ]
        try:
            limit = int((query.get("limit") or [DEFAULT_PAGE_LIMIT])[0])
        except ValueError:
            return 400, _error(400, "query param limit must be an integer")
        if not 0 <= limit <= MAX_PAGE_LIMIT:
            return 400, _error(
                400, f"query param limit must be in [0, {MAX_PAGE_LIMIT}]"
            )
        total = len(items)
        after = query.get("after")
        if after:
            last = _decode_cursor(after[0])
            items = [e for e in items if e["fullyQualifiedName"] > last]
        page = items[:limit]
        paging: dict[str, Any] = {"total": total}
        if len(items) > limit and page:
            paging["after"] = _encode_cursor(page[-1]["fullyQualifiedName"])
        return 200, {"data": page, "paging": paging}

    def patch(self, collection: str, entity: dict[str, Any], operations: Any) -> tuple:
        """``PATCH /<collection>/{id}``: applies the JSON Patch, bumps the version."""
        if not isinstance(operations, list):
            return 400, _error(400, "a JSON Patch is a list of operations")
        try:
            patched = jsonpatch.apply_patch(entity, operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            return 400, _error(400, f"invalid JSON Patch: {error}")
        for fixed in ("id", "fullyQualifiedName", "name"):
            patched[fixed] = entity[fixed]
        if "owners" in patched:
            # The server stores owners as full references to existing users/teams.
            owners = []
            for owner in patched["owners"] or []:
                found = self.entity_by_reference(owner)
                if found is None:
                    return 404, _error(
                        404, f"{owner.get('type')} {owner.get('id')} not found"
                    )
                owners.append(self._reference_of(owner, found))
            patched["owners"] = owners
        patched["version"] = round(entity.get("version", 0.0) + 0.1, 1)
        patched["updatedAt"] = int(time.time() * 1000)
        entity.clear()
        entity.update(patched)
        return 200, entity

    def delete(self, collection: str, entity: dict[str, Any], query: dict) -> tuple:
        """``DELETE /<collection>/{id}``: soft (default) or hard, children too.

        Like the server, a service or container with children needs
        ``recursive=true``.
        """
        hard = (query.get("hardDelete") or ["false"])[0] == "true"
        recursive = (query.get("recursive") or ["false"])[0] == "true"
        children = self._children(entity)
        if children and not recursive:
            return 400, _error(
                400,
                f"Entity {entity['name']} is not empty; use recursive=true to delete",
            )
        for child_collection, child in [*children, (collection, entity)]:
            if hard:
                self._store(child_collection).pop(child["fullyQualifiedName"], None)
            else:
                child["deleted"] = True
        return 200, entity

    def _children(self, entity: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        prefix = f"{entity['fullyQualifiedName']}."
        return [
            (collection, child)
            for collection in PARENTS
            if collection not in ("services/testConnectionDefinitions",)
            for child in self._store(collection).values()
            if child["fullyQualifiedName"].startswith(prefix)
        ]

    def add_usage(self, parts: list[str], body: dict[str, Any]) -> tuple:
        """``POST /usage/<type>/<id>``: one day's usage count of an entity."""
        entity = (
            self.entity_by_reference({"type": parts[0], "id": parts[1]})
            if len(parts) == 2
            else None
        )
        if entity is None:
            return 404, _error(404, f"entity {'/'.join(parts)} not found")
        entity.setdefault("usage", []).append(body)
        return 200, {"entity": {"id": entity["id"], "type": parts[0]}, "usage": [body]}

    # ---- lineage -------------------------------------------------------
    def entity_by_reference(self, reference: Any) -> dict[str, Any] | None:
        """The entity an ``{id, type}`` reference points to."""
        if not isinstance(reference, dict):
            return None
        collection = TYPE_COLLECTIONS.get(str(reference.get("type")))
        if collection is None:
            return None
        return self.by_id(collection, str(reference.get("id")))

    def add_lineage(self, body: Any) -> tuple:
        """``PUT /lineage``: stores (or updates) one edge between known entities."""
        edge = (body or {}).get("edge") if isinstance(body, dict) else None
        if not isinstance(edge, dict):
            return 400, _error(400, "[edge must not be null]")
        ends = [
            self.entity_by_reference(edge.get(end))
            for end in ("fromEntity", "toEntity")
        ]
        for end, found in zip(("fromEntity", "toEntity"), ends, strict=True):
            if found is None:
                return 404, _error(404, f"{end} {edge.get(end)} not found")
        key = (ends[0]["id"], ends[1]["id"])
        stored = self.lineage.setdefault(
            key,
            {
                "fromEntity": self._reference_of(edge["fromEntity"], ends[0]),
                "toEntity": self._reference_of(edge["toEntity"], ends[1]),
                "lineageDetails": {},
            },
        )
        stored["lineageDetails"] = {
            **stored["lineageDetails"],
            **(edge.get("lineageDetails") or {}),
        }
        return 200, None

    def _reference_of(self, reference: dict, entity: dict[str, Any]) -> dict:
        collection = TYPE_COLLECTIONS[str(reference["type"])]
        return self._reference(collection, entity)

    def lineage_graph(self, entity_type: str, key: str, by_name: bool) -> tuple:
        """``GET /lineage/<type>/[name/]<key>``: depth-1 upstream and downstream."""
        collection = TYPE_COLLECTIONS.get(entity_type)
        if collection is None:
            return 404, _error(404, f"unknown entity type {entity_type}")
        entity = (
            self.by_fqn(collection, key) if by_name else self.by_id(collection, key)
        )
        if entity is None:
            return 404, _error(404, f"{entity_type} instance for {key} not found")
        upstream, downstream, nodes = [], [], {}
        for (from_id, to_id), edge in self.lineage.items():
            view = {
                "fromEntity": from_id,
                "toEntity": to_id,
                "lineageDetails": edge["lineageDetails"],
            }
            if to_id == entity["id"]:
                upstream.append(view)
                nodes[from_id] = edge["fromEntity"]
            if from_id == entity["id"]:
                downstream.append(view)
                nodes[to_id] = edge["toEntity"]
        return 200, {
            "entity": self._reference(collection, entity),
            "nodes": list(nodes.values()),
            "upstreamEdges": upstream,
            "downstreamEdges": downstream,
        }

    def lineage_route(self, method: str, rest: str, body: Any) -> tuple:
        """Every ``/lineage`` route the clients use."""
        parts = [unquote(part) for part in rest.split("/")] if rest else []
        if method == "PUT" and not parts:
            return self.add_lineage(body)
        if method == "GET" and parts[:1] == ["getLineageEdge"]:
            ids = self._edge_ids(parts[1:])
            edge = self.lineage.get(ids) if ids else None
            if edge is None:
                return 404, _error(404, "lineage edge not found")
            return 200, {"edge": edge}
        if method == "GET" and len(parts) == 3 and parts[1] == "name":
            return self.lineage_graph(parts[0], parts[2], by_name=True)
        if method == "GET" and len(parts) == 2:
            return self.lineage_graph(parts[0], parts[1], by_name=False)
        if method == "PUT" and len(parts) == 6:
            ids = self._edge_ids(parts)
            if ids is None:
                return 404, _error(404, "lineage entity not found")
            return self.add_lineage(
                {
                    "edge": {
                        "fromEntity": {"id": ids[0], "type": parts[0]},
                        "toEntity": {"id": ids[1], "type": parts[3]},
                        "lineageDetails": body or {},
                    }
                }
            )
        if method in ("PATCH", "DELETE") and len(parts) in (4, 6):
            ids = (parts[1], parts[3]) if len(parts) == 4 else self._edge_ids(parts)
            edge = self.lineage.get(ids) if ids else None
            if edge is None:
                return 404, _error(404, "lineage edge not found")
            if method == "DELETE":
                del self.lineage[ids]
                return 200, None
            status, details = self.patch_document(edge["lineageDetails"], body)
            if status == 200:
                edge["lineageDetails"] = details
            return status, None if status == 200 else details
        return 405, _error(405, "HTTP 405 Method Not Allowed")

    def _edge_ids(self, parts: list[str]) -> tuple[str, str] | None:
        if len(parts) == 2:
            return parts[0], parts[1]
        if len(parts) == 6 and parts[1] == "name" and parts[4] == "name":
            ends = []
            for entity_type, fqn in ((parts[0], parts[2]), (parts[3], parts[5])):
                collection = TYPE_COLLECTIONS.get(entity_type)
                found = self.by_fqn(collection, fqn) if collection else None
                if found is None:
                    return None
                ends.append(found["id"])
            return ends[0], ends[1]
        return None

    @staticmethod
    def patch_document(document: dict[str, Any], operations: Any) -> tuple:
        """A JSON Patch applied to a plain document (400 when it does not apply)."""
        try:
            return 200, jsonpatch.apply_patch(document, operations or [])
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            return 400, _error(400, f"invalid JSON Patch: {error}")

    # ---- data quality -------------------------------------------------
    def executable_test_suite(self, body: dict[str, Any]) -> tuple:
        """``PUT /dataQuality/testSuites/executable``: the table's own suite."""
        table = self.by_fqn("tables", str(body.get("basicEntityReference")))
        if table is None:
            return 404, _error(
                404, f"table instance for {body.get('basicEntityReference')} not found"
            )
        status, suite = self.create_or_update(
            "dataQuality/testSuites",
            {
                **body,
                "basic": True,
                "basicEntityReference": self._reference("tables", table),
            },
        )
        table["testSuite"] = self._reference("dataQuality/testSuites", suite)
        return status, suite

    def create_test_case(self, body: dict[str, Any]) -> tuple:
        """``PUT /dataQuality/testCases``: a test case on the linked table."""
        match = ENTITY_LINK.match(str(body.get("entityLink", "")))
        if match is None:
            return 400, _error(400, f"invalid entityLink {body.get('entityLink')}")
        table = self.by_fqn("tables", match.group("fqn"))
        if table is None:
            return 404, _error(
                404, f"table instance for {match.group('fqn')} not found"
            )
        definition = self.by_fqn(
            "dataQuality/testDefinitions", str(body.get("testDefinition"))
        )
        if definition is None:
            return 404, _error(
                404,
                f"testDefinition instance for {body.get('testDefinition')} not found",
            )
        name = str(body["name"])
        fqn = f"{table['fullyQualifiedName']}.{quote_fqn_part(name)}"
        existing = self.by_fqn("dataQuality/testCases", fqn)
        entity = {
            **(existing or {}),
            **body,
            "name": name,
            "fullyQualifiedName": fqn,
            "id": existing["id"] if existing else str(uuid.uuid4()),
            "version": round((existing or {}).get("version", 0.0) + 0.1, 1),
            "deleted": False,
            "testDefinition": self._reference(
                "dataQuality/testDefinitions", definition
            ),
        }
        suite = table.get("testSuite")
        if suite:
            entity["testSuite"] = suite
        self._store("dataQuality/testCases")[fqn] = entity
        return (HTTPStatus.OK if existing else HTTPStatus.CREATED), entity

    def add_test_case_result(self, fqn: str, body: dict[str, Any]) -> tuple:
        """``POST /dataQuality/testCases/testCaseResults/{fqn}``."""
        test_case = self.by_fqn("dataQuality/testCases", fqn)
        if test_case is None:
            return 404, _error(404, f"testCase instance for {fqn} not found")
        for required in ("timestamp", "testCaseStatus"):
            if required not in body:
                return 400, _error(400, f"[{required} must not be null]")
        self.test_case_results.setdefault(fqn, []).append(body)
        test_case["testCaseResult"] = body
        return 200, body

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

    def search_query(self, query: dict[str, list[str]]) -> tuple:
        """``GET /search/query``: ``query_filter`` over one index, sorted, paged.

        Pages with ``size`` and ``search_after`` (the sort value of the last hit),
        as the ingestion client's paginator does.
        """
        collection = SEARCH_INDEXES.get((query.get("index") or [""])[0])
        if collection is None:
            return 400, _error(400, "unknown index")
        raw_filter = (query.get("query_filter") or ["{}"])[0]
        try:
            clause = json.loads(raw_filter)
        except ValueError:
            return 400, _error(400, "query_filter is not JSON")
        deleted = (query.get("deleted") or ["false"])[0] == "true"
        sort_field = (query.get("sort_field") or ["fullyQualifiedName"])[0]
        descending = (query.get("sort_order") or ["desc"])[0] == "desc"
        size = int((query.get("size") or ["10"])[0])
        try:
            hits = [
                entity
                for entity in self._store(collection).values()
                if entity["deleted"] == deleted and es_matches(entity, clause)
            ]
        except ValueError as error:
            return 400, _error(400, str(error))
        hits.sort(key=lambda entity: str(entity.get(sort_field)), reverse=descending)
        total = len(hits)
        after = query.get("search_after")
        if after:
            last = after[0]
            hits = [
                entity
                for entity in hits
                if (str(entity.get(sort_field)) < last) == descending
                and str(entity.get(sort_field)) != last
            ]
        page = hits[:size]
        return 200, {
            "hits": {
                "total": {"value": total, "relation": "eq"},
                "hits": [
                    {
                        "_index": collection,
                        "_id": entity["id"],
                        "_source": entity,
                        "sort": [str(entity.get(sort_field))],
                    }
                    for entity in page
                ],
            }
        }

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


ENTITY_LINK = re.compile(r"^<#E::table::(?P<fqn>.+?)(::columns::[^>]+)?>$")


def _encode_cursor(fqn: str) -> str:
    return base64.urlsafe_b64encode(fqn.encode("utf-8")).decode("ascii")


def _decode_cursor(cursor: str) -> str:
    return base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")


def _field_values(document: Any, path: str) -> list[Any]:
    """Values at a dotted path (``service.name``), through lists."""
    values = [document]
    for part in path.removesuffix(".keyword").split("."):
        found = []
        for value in values:
            if isinstance(value, dict) and part in value:
                inner = value[part]
                found.extend(inner if isinstance(inner, list) else [inner])
        values = found
    return values


def es_matches(document: dict[str, Any], clause: Any) -> bool:
    """Whether ``document`` satisfies an Elasticsearch query clause.

    Supports what the ingestion client sends: ``bool`` (``must``, ``should``,
    ``must_not``, ``filter``), ``term``, ``terms``, ``exists`` and ``match_all``.
    """
    if not isinstance(clause, dict) or not clause:
        return True
    if "query" in clause:
        return es_matches(document, clause["query"])
    if "bool" in clause:
        spec = clause["bool"]

        def listed(key: str) -> list[Any]:
            value = spec.get(key) or []
            return value if isinstance(value, list) else [value]

        return (
            all(es_matches(document, c) for c in listed("must") + listed("filter"))
            and (
                not listed("should")
                or any(es_matches(document, c) for c in listed("should"))
            )
            and not any(es_matches(document, c) for c in listed("must_not"))
        )
    if "term" in clause:
        [(path, wanted)] = clause["term"].items()
        wanted = wanted.get("value") if isinstance(wanted, dict) else wanted
        return any(value == wanted for value in _field_values(document, path))
    if "terms" in clause:
        [(path, wanted)] = clause["terms"].items()
        return any(value in wanted for value in _field_values(document, path))
    if "exists" in clause:
        return any(
            value not in (None, "", [])
            for value in _field_values(document, clause["exists"]["field"])
        )
    if "match_all" in clause:
        return True
    raise ValueError(f"unsupported query clause {sorted(clause)}")


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
        if method == "GET" and path == "search/query":
            return double.search_query(record.query)
        if method in ("POST", "PUT") and path.startswith("usage/"):
            return double.add_usage(path.split("/")[1:], record.body or {})
        if path == "lineage" or path.startswith("lineage/"):
            return double.lineage_route(method, path[len("lineage/") :], record.body)
        if method == "PUT" and path == "dataQuality/testSuites/executable":
            return double.executable_test_suite(record.body or {})
        if path.startswith("dataQuality/testCases/testCaseResults/"):
            fqn = unquote(path[len("dataQuality/testCases/testCaseResults/") :])
            if method == "POST":
                return double.add_test_case_result(fqn, record.body or {})
            if method == "GET":
                data = double.test_case_results.get(fqn, [])
                return 200, {"data": data, "paging": {"total": len(data)}}
        if method in ("PUT", "POST") and path == "dataQuality/testCases":
            return double.create_test_case(record.body or {})
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
            return double.listing(collection, record.query)
        if method == "GET" and rest.startswith("name/"):
            fqn = unquote(rest[len("name/") :])
            entity = double.by_fqn(collection, fqn)
            include = (record.query.get("include") or ["non-deleted"])[0]
            if entity is not None and entity["deleted"] and include == "non-deleted":
                entity = None
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
            return double.patch(collection, entity, record.body)
        if method == "DELETE":
            return double.delete(collection, entity, record.query)
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
