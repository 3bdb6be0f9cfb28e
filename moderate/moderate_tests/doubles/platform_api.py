"""A faithful HTTP double of the MODERATE Platform API behind its gateway.

It serves the token route of the gateway, the gateway's and the API's auth
rules, the list semantics of the API, assets and uploads, the Trust flows
(DIDs and proofs as long-running tasks) and workflow jobs. State lives in
memory; tests seed it with Python methods and read it back with accessors.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import os
import re
import secrets
import sys
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from moderate_tests.doubles.http_server import (
    EPHEMERAL_PORT,
    FORM_CONTENT_TYPE,
    LOOPBACK_HOST,
    HttpDouble,
    HttpError,
    HttpRequest,
    HttpResponse,
    MultipartError,
    MultipartPart,
    Router,
    json_response,
    parse_multipart,
    text_response,
)
from moderate_tests.doubles.list_query import (
    FieldKind,
    FieldSpec,
    ListQuery,
    Schema,
    database_error,
    parse_paging,
    scramble,
    validation_error,
)

TOKEN_PATH = "/api/token"
DEFAULT_TOKEN_EXPIRES_IN_S = 300
DEFAULT_REFRESH_EXPIRES_IN_S = 1800
DEFAULT_TOKEN_LEEWAY_S = 0.0
DEFAULT_MAX_OBJECTS_PER_ASSET = 100
DEFAULT_TASK_DELAY_S = 0.05
DEFAULT_BUCKET = "platform-api"
DEFAULT_S3_ENDPOINT_URL = "http://s3.platform-double.invalid"
PRESIGNED_URL_EXPIRES_IN_S = 7200
JOB_DEBOUNCE_S = 10.0
UPLOAD_PART_SIZE = 16 * 1024**2
DEFAULT_UPLOADER = "workflows"
MATRIX_PROFILE = "matrix_profile"
ACCESS_LEVELS = ("public", "private", "visible")
AUTO = "auto"
"""Sentinel of :meth:`PlatformApiDouble.add_object`: hash the object's bytes."""

MISSING_JWT = {"message": "Missing JWT token in request"}
INVALID_BEARER = {
    "error": "invalid_grant",
    "error_description": "Invalid bearer token",
}
NO_API_ACCESS = {"detail": "API access is not enabled for this user"}
INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": "Invalid user credentials",
}
TOKEN_ENDPOINT_FAILED = {"message": "Accessing token endpoint URL failed."}
FORBIDDEN = {"detail": "Forbidden"}
NOT_FOUND = {"detail": "Not Found"}
SERVICE_UNAVAILABLE = {"detail": "Service Unavailable"}
INTEGRITY_ERROR = {"message": "Database operation error"}
TRUST_URL = "http://trust.platform-double.invalid"
_BEARER_PATTERN = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)
_SLUG_DROP = re.compile(r"['\"]+")
_SLUG_SEPARATORS = re.compile(r"[^a-z0-9]+")
_NUMERIC = re.compile(r"^\d+$")
_HTTPX_STATUS_DOCS = "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status"

T = TypeVar("T", bound=BaseModel)


class TrustOutcome(enum.Enum):
    """What the Trust service does when a DID or proof task calls it."""

    SUCCESS = "success"
    HTTP_STATUS_ERROR = "http_status_error"
    CONNECT_ERROR = "connect_error"
    READ_TIMEOUT = "read_timeout"
    NEVER_FINISHES = "never_finishes"


class TaskKind(enum.Enum):
    """The two kinds of long-running task."""

    DID = "did"
    PROOF = "proof"


# ------------------------------------------------------------------ records


@dataclass
class _Account:
    username: str
    password: str
    admin: bool
    api_access: bool


@dataclass
class _Token:
    username: str
    expires_at: float


@dataclass
class _Asset:
    id: int
    uuid: str
    name: str
    description: str | None
    meta: dict[str, Any] | None
    created_at: datetime
    access_level: str
    username: str | None


@dataclass
class _Object:
    id: int
    key: str
    bucket: str
    etag: str
    location: str
    asset_id: int
    tags: Any
    created_at: datetime
    series_id: str | None
    sha256_hash: str | None
    proof_id: str | None
    meta: dict[str, Any] | None
    name: str | None
    description: str | None


@dataclass
class _Job:
    id: int
    job_type: str
    arguments: dict[str, Any]
    results: dict[str, Any] | None
    created_at: datetime
    finalised_at: datetime | None
    creator_username: str


@dataclass
class _UserMeta:
    id: int
    username: str
    created_at: datetime
    trust_did: str | None = None
    meta: dict[str, Any] | None = None


@dataclass
class _Task:
    id: int
    kind: TaskKind
    username_owner: str
    subject: str | int
    created_at: datetime
    outcome: TrustOutcome = TrustOutcome.SUCCESS
    due_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    finished_at: datetime | None = None


@dataclass
class _OutcomeRule:
    outcome: TrustOutcome
    remaining: int | None


@dataclass(frozen=True)
class _Call:
    request: HttpRequest
    params: dict[str, str]
    user: _Account | None

    @property
    def account(self) -> _Account:
        if self.user is None:
            raise HttpError(HTTPStatus.UNAUTHORIZED, MISSING_JWT)
        return self.user


Handler = Callable[[_Call], HttpResponse]


# ----------------------------------------------------------- request bodies


class _AssetCreate(BaseModel):
    name: str
    uuid: str | None = None
    description: str | None = None
    meta: dict[str, Any] | None = None
    access_level: Literal["public", "private", "visible"] = "private"
    is_public_ownerless: bool = False


class _ObjectUpdate(BaseModel):
    tags: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None


class _ProofRequest(BaseModel):
    object_key_or_id: str | int


class _DidRequest(BaseModel):
    username: str


class _JobUpdate(BaseModel):
    results: dict[str, Any]
    finalised_at: datetime | None = None


class _JobCreate(BaseModel):
    job_type: str
    arguments: dict[str, Any]


class _MatrixProfileArguments(BaseModel):
    uploaded_s3_object_id: int
    analysis_variable: str


# ------------------------------------------------------------------ schemas

ASSET_SCHEMA: Schema = {
    "id": FieldSpec(FieldKind.INT, unique=True),
    "uuid": FieldSpec(FieldKind.TEXT, unique=True),
    "name": FieldSpec(FieldKind.TEXT),
    "description": FieldSpec(FieldKind.TEXT),
    "meta": FieldSpec(FieldKind.JSON),
    "created_at": FieldSpec(FieldKind.DATETIME),
    "access_level": FieldSpec(FieldKind.ENUM, frozenset(ACCESS_LEVELS)),
    "username": FieldSpec(FieldKind.TEXT),
}

OBJECT_SCHEMA: Schema = {
    "id": FieldSpec(FieldKind.INT, unique=True),
    "key": FieldSpec(FieldKind.TEXT, unique=True),
    "bucket": FieldSpec(FieldKind.TEXT),
    "etag": FieldSpec(FieldKind.TEXT),
    "location": FieldSpec(FieldKind.TEXT),
    "asset_id": FieldSpec(FieldKind.INT),
    "tags": FieldSpec(FieldKind.JSON),
    "created_at": FieldSpec(FieldKind.DATETIME),
    "series_id": FieldSpec(FieldKind.TEXT),
    "sha256_hash": FieldSpec(FieldKind.TEXT),
    "proof_id": FieldSpec(FieldKind.TEXT),
    "meta": FieldSpec(FieldKind.JSON),
    "name": FieldSpec(FieldKind.TEXT),
    "description": FieldSpec(FieldKind.TEXT),
}

JOB_SCHEMA: Schema = {
    "id": FieldSpec(FieldKind.INT, unique=True),
    "job_type": FieldSpec(FieldKind.ENUM, frozenset({MATRIX_PROFILE})),
    "arguments": FieldSpec(FieldKind.JSON),
    "results": FieldSpec(FieldKind.JSON),
    "created_at": FieldSpec(FieldKind.DATETIME),
    "finalised_at": FieldSpec(FieldKind.DATETIME),
    "creator_username": FieldSpec(FieldKind.TEXT),
}

# Basic-access policy: (entity, action) pairs allowed without the admin role.
_BASIC_POLICY = frozenset(
    {
        ("asset", "create"),
        ("asset", "read"),
        ("asset", "update"),
        ("asset", "delete"),
        ("user", "read"),
        ("user", "update"),
        ("workflow_job", "create"),
        ("workflow_job", "read"),
    }
)


# ---------------------------------------------------------------- helpers


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by ``-``, as the API slugs file stems."""
    ascii_text = (
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    )
    cleaned = _SLUG_DROP.sub("", ascii_text.lower())
    return _SLUG_SEPARATORS.sub("-", cleaned).strip("-")


def _exception_repr(name: str, message: str) -> str:
    """``repr()`` of an exception of class ``name`` carrying ``message``."""
    return f"{name}({message!r})"


def _trust_error(outcome: TrustOutcome, endpoint: str) -> str:
    url = f"{TRUST_URL}{endpoint}"
    status = HTTPStatus.BAD_GATEWAY
    messages = {
        TrustOutcome.HTTP_STATUS_ERROR: (
            "HTTPStatusError",
            f"Server error '{status.value} {status.phrase}' for url '{url}'\n"
            f"For more information check: {_HTTPX_STATUS_DOCS}/{status.value}",
        ),
        TrustOutcome.CONNECT_ERROR: ("ConnectError", "All connection attempts failed"),
        TrustOutcome.READ_TIMEOUT: ("ReadTimeout", ""),
    }
    name, message = messages[outcome]
    return _exception_repr(name, message)


def _path_int(call: _Call, name: str) -> int:
    raw = call.params[name]
    if not _NUMERIC.match(raw):
        raise validation_error(
            [
                {
                    "type": "int_parsing",
                    "loc": ["path", name],
                    "msg": "Input should be a valid integer, unable to parse string "
                    "as an integer",
                    "input": raw,
                }
            ]
        )
    return int(raw)


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return str(value)


def _body_errors(error: ValidationError) -> list[dict[str, Any]]:
    errors = []
    for item in error.errors(include_url=False):
        entry = {
            "type": item["type"],
            "loc": ["body", *item["loc"]],
            "msg": item["msg"],
            "input": _jsonable(item.get("input")),
        }
        if "ctx" in item:
            entry["ctx"] = _jsonable(item["ctx"])
        errors.append(entry)
    return errors


def _json_body(call: _Call, model: type[T]) -> T:
    """Decodes and validates a JSON body; 422 like request validation.

    Raises:
        HttpError: 422 for invalid JSON, a missing body or invalid fields.
    """
    request = call.request
    if not request.body:
        raise validation_error(
            [
                {
                    "type": "missing",
                    "loc": ["body"],
                    "msg": "Field required",
                    "input": None,
                }
            ]
        )
    if request.media_type not in ("", "application/json"):
        raise validation_error(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract "
                    "fields from",
                    "input": request.body.decode("utf-8", "replace"),
                }
            ]
        )
    try:
        payload = request.json()
    except ValueError as error:
        raise validation_error(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", getattr(error, "pos", 0)],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": getattr(error, "msg", str(error))},
                }
            ]
        ) from error
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise validation_error(_body_errors(error)) from error


def _is_public_path(path: str) -> bool:
    return "public" in path.split("/")


_ASSET_READ_PATTERN = re.compile(r"^/asset(/\d+)?/?$")
_JOB_READ_PATTERN = re.compile(r"^/job/\d+/?$")


def _is_optional_user_route(request: HttpRequest) -> bool:
    """``GET /asset`` and ``GET /asset/{id}`` accept callers without a role."""
    return request.method == "GET" and bool(_ASSET_READ_PATTERN.match(request.path))


def _is_job_read(request: HttpRequest) -> bool:
    return request.method == "GET" and bool(_JOB_READ_PATTERN.match(request.path))


def _is_token_request(request: HttpRequest) -> bool:
    return (
        request.method == "POST"
        and request.path == TOKEN_PATH
        and request.query_string == ""
        and request.header("Content-Type") == FORM_CONTENT_TYPE
    )


def _enforce(user: _Account, entity: str, action: str) -> None:
    if not user.admin and (entity, action) not in _BASIC_POLICY:
        raise HttpError(HTTPStatus.FORBIDDEN, FORBIDDEN)


def _object_read_json(obj: _Object) -> dict[str, Any]:
    return {
        "id": obj.id,
        "key": obj.key,
        "tags": obj.tags,
        "created_at": _iso(obj.created_at),
        "series_id": obj.series_id,
        "sha256_hash": obj.sha256_hash,
        "proof_id": obj.proof_id,
        "meta": obj.meta,
        "name": obj.name,
        "description": obj.description,
    }


def _object_json(obj: _Object) -> dict[str, Any]:
    return {
        **_object_read_json(obj),
        "asset_id": obj.asset_id,
        "bucket": obj.bucket,
        "etag": obj.etag,
        "location": obj.location,
    }


def _user_meta_json(meta: _UserMeta) -> dict[str, Any]:
    return {
        "username": meta.username,
        "created_at": _iso(meta.created_at),
        "trust_did": meta.trust_did,
        "meta": meta.meta,
    }


def _task_json(task: _Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "username_owner": task.username_owner,
        "result": task.result,
        "error": task.error,
        "created_at": _iso(task.created_at),
        "finished_at": _iso(task.finished_at),
    }


# ------------------------------------------------------------------ double


class PlatformApiDouble(HttpDouble):
    """In-memory Platform API (gateway included) served over real HTTP.

    Args:
        token_expires_in: ``expires_in`` of issued tokens, seconds.
        refresh_expires_in: ``refresh_expires_in`` of issued tokens, seconds.
        token_leeway_s: Grace period after expiry during which the API still
            accepts a token (the real API allows none: its PyJWT leeway setting is
            ignored). Expiry is checked after the whole body has been read.
        max_objects_per_asset: Upload limit per asset.
        task_delay_s: How long a Trust task runs before it finishes.
        trust_configured: False makes the Trust routes answer 503.
        broker_configured: False makes ``POST /job`` answer 500.

    Fault switches: ``keycloak_reachable``; ``api_s3_reachable`` False makes
    ``GET /job/{id}`` (which calls ``head_bucket`` on the API's S3) answer 500
    after ``api_s3_failure_delay_s`` while ``PATCH /job/{id}`` still works.
        bucket: The API's own bucket, recorded on uploaded objects.
        s3_client: Optional boto3 client: uploads are also stored there (in
            ``bucket``, which must exist) and download URLs are presigned by it.
        s3_endpoint_url: Base of ``location`` and fake presigned URLs when no
            client is given.
        job_publisher: Called with each message a ``POST /job`` publishes.
        host: Address to bind.
        port: Port to bind (0 = any free port).
    """

    def __init__(
        self,
        *,
        token_expires_in: int = DEFAULT_TOKEN_EXPIRES_IN_S,
        refresh_expires_in: int = DEFAULT_REFRESH_EXPIRES_IN_S,
        token_leeway_s: float = DEFAULT_TOKEN_LEEWAY_S,
        max_objects_per_asset: int = DEFAULT_MAX_OBJECTS_PER_ASSET,
        task_delay_s: float = DEFAULT_TASK_DELAY_S,
        trust_configured: bool = True,
        broker_configured: bool = True,
        bucket: str = DEFAULT_BUCKET,
        s3_client: Any | None = None,
        s3_endpoint_url: str = DEFAULT_S3_ENDPOINT_URL,
        job_publisher: Callable[[dict[str, Any]], None] | None = None,
        host: str = LOOPBACK_HOST,
        port: int = EPHEMERAL_PORT,
    ) -> None:
        super().__init__(host, port)
        self.token_expires_in = token_expires_in
        self.refresh_expires_in = refresh_expires_in
        self.token_leeway_s = token_leeway_s
        self.max_objects_per_asset = max_objects_per_asset
        self.task_delay_s = task_delay_s
        self.trust_configured = trust_configured
        self.broker_configured = broker_configured
        self.keycloak_reachable = True
        self.api_s3_reachable = True
        self.api_s3_failure_delay_s = 0.0
        self.default_trust_outcome = TrustOutcome.SUCCESS
        self.bucket = bucket
        self._s3_client = s3_client
        self._s3_endpoint_url = s3_endpoint_url.rstrip("/")
        self._job_publisher = job_publisher
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, _Token] = {}
        self._assets: dict[int, _Asset] = {}
        self._objects: dict[int, _Object] = {}
        self._objects_by_asset: dict[int, dict[int, None]] = {}
        self._jobs: dict[int, _Job] = {}
        self._user_meta: dict[str, _UserMeta] = {}
        self._tasks: dict[int, _Task] = {}
        self._pending: dict[int, _Task] = {}
        self._outcomes: dict[tuple[TaskKind, str], _OutcomeRule] = {}
        self._blobs: dict[str, bytes] = {}
        self._trust_calls: list[dict[str, Any]] = []
        self._published: list[dict[str, Any]] = []
        self._next_ids: dict[str, int] = {}
        self._versions: dict[str, int] = {"asset": 0, "object": 0, "job": 0}
        self._router: Router[Handler] = Router()
        self._register_routes()

    # ============================================================ seeding

    def add_user(
        self,
        username: str,
        password: str,
        admin: bool = False,
        *,
        api_access: bool = True,
    ) -> None:
        """Adds an account; ``admin`` grants ``apisix:api_admin``.

        Without ``api_access`` the account holds neither API role: it gets
        tokens but every API call answers 401.
        """
        with self.lock:
            self._accounts[username] = _Account(username, password, admin, api_access)

    def add_asset(
        self,
        name: str,
        *,
        username: str | None = None,
        uuid: str | None = None,
        access_level: str = "private",
        description: str | None = None,
        meta: dict[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Adds an asset owned by ``username`` (None = ownerless); returns its id."""
        if access_level not in ACCESS_LEVELS:
            raise ValueError(f"access_level must be one of {ACCESS_LEVELS}")
        with self.lock:
            asset_uuid = uuid or _new_uuid_hex()
            if any(asset.uuid == asset_uuid for asset in self._assets.values()):
                raise ValueError(f"duplicate asset uuid {asset_uuid}")
            asset = _Asset(
                id=self._next_id("asset"),
                uuid=asset_uuid,
                name=name,
                description=description,
                meta=meta,
                created_at=created_at or self.utcnow(),
                access_level=access_level,
                username=username,
            )
            self._store_asset(asset)
            return asset.id

    def add_object(
        self,
        asset_id: int,
        key: str | None = None,
        *,
        sha256_hash: str | None = AUTO,
        proof_id: str | None = None,
        data: bytes | None = None,
        tags: Any = None,
        series_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        meta: dict[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Adds an object record to an asset (no upload limit); returns its id.

        ``sha256_hash`` defaults to the hash of ``data`` (or of the key when no
        data is given); pass None for an object without a hash. ``data`` is
        kept as the stored bytes of ``key``.
        """
        with self.lock:
            asset = self._require_asset(asset_id)
            object_key = key or self._seed_key(asset, "object", ".csv")
            content = data if data is not None else object_key.encode("utf-8")
            digest = (
                hashlib.sha256(content).hexdigest()
                if sha256_hash == AUTO
                else sha256_hash
            )
            obj = self._new_object(
                asset_id, object_key, content, digest, created_at or self.utcnow()
            )
            obj.proof_id, obj.tags, obj.series_id = proof_id, tags, series_id
            obj.name, obj.description, obj.meta = name, description, meta
            if data is not None:
                self._blobs[object_key] = data
            self._store_object(obj)
            return obj.id

    def add_objects(
        self,
        asset_id: int,
        count: int,
        *,
        with_hash: bool = True,
        proof_id: str | None = None,
        uploader: str | None = None,
        tags: Any = None,
        series_id: str | None = None,
    ) -> list[int]:
        """Adds ``count`` objects to one asset quickly; returns their ids in order.

        Keys follow the API's shape ``<uploader>-assets/seeded-<n>-<uuid4>.csv``.
        With ``proof_id`` every object already carries that proof.
        """
        with self.lock:
            asset = self._require_asset(asset_id)
            owner = uploader or asset.username or DEFAULT_UPLOADER
            now = self.utcnow()
            ids: list[int] = []
            for number in range(count):
                key = f"{owner}-assets/seeded-{number}-{uuid.uuid4()}.csv"
                digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
                obj = self._new_object(
                    asset_id, key, b"", digest if with_hash else None, now
                )
                obj.proof_id, obj.tags, obj.series_id = proof_id, tags, series_id
                self._store_object(obj)
                ids.append(obj.id)
            return ids

    def add_job(
        self,
        creator_username: str,
        *,
        arguments: dict[str, Any] | None = None,
        job_type: str = MATRIX_PROFILE,
        results: dict[str, Any] | None = None,
        finalised_at: datetime | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Adds a workflow job; returns its id."""
        with self.lock:
            job = _Job(
                id=self._next_id("job"),
                job_type=job_type,
                arguments=arguments or {},
                results=results,
                created_at=created_at or self.utcnow(),
                finalised_at=finalised_at,
                creator_username=creator_username,
            )
            self._jobs[job.id] = job
            self._touch("job")
            return job.id

    def set_did(self, username: str, did: str | None = None) -> str:
        """Gives ``username`` a DID (random unless given); returns it."""
        with self.lock:
            meta = self._ensure_user_meta(username)
            meta.trust_did = did or _new_did()
            return meta.trust_did

    def set_proof(self, object_id: int, proof_id: str | None = None) -> str:
        """Gives an object a proof id (random unless given); returns it."""
        with self.lock:
            obj = self._require_object(object_id)
            obj.proof_id = proof_id or _new_proof_id()
            self._touch("object")
            return obj.proof_id

    # =========================================================== behaviour

    def set_did_outcome(
        self, username: str, outcome: TrustOutcome, times: int | None = None
    ) -> None:
        """What Trust does for DID tasks of ``username`` (next ``times`` or all)."""
        with self.lock:
            self._outcomes[(TaskKind.DID, username)] = _OutcomeRule(outcome, times)

    def set_proof_outcome(
        self,
        object_key_or_id: str | int,
        outcome: TrustOutcome,
        times: int | None = None,
    ) -> None:
        """What Trust does for proof tasks of an object (by key or id)."""
        with self.lock:
            rule = _OutcomeRule(outcome, times)
            self._outcomes[(TaskKind.PROOF, str(object_key_or_id))] = rule

    def simulate_restart(self) -> None:
        """Loses every running task, as an API restart does: they never finish."""
        with self.lock:
            for task in self._pending.values():
                task.due_at = None
            self._pending.clear()

    def revoke_all_tokens(self) -> None:
        """Forgets every issued token: calls with them answer 401."""
        with self.lock:
            self._tokens.clear()

    def expire_all_tokens(self) -> None:
        """Makes every issued token expired beyond the leeway."""
        with self.lock:
            expired_at = self.now() - self.token_leeway_s - 1
            for token in self._tokens.values():
                token.expires_at = expired_at

    # ========================================================== accessors

    def assets(self) -> list[dict[str, Any]]:
        """Every asset as ``AssetRead`` JSON, by id."""
        with self.lock:
            self._complete_due_tasks()
            return [self._asset_json(asset) for asset in self._sorted(self._assets)]

    def get_asset(self, asset_id: int) -> dict[str, Any]:
        """One asset as ``AssetRead`` JSON (KeyError if unknown)."""
        with self.lock:
            self._complete_due_tasks()
            return self._asset_json(self._assets[asset_id])

    def objects(self, asset_id: int | None = None) -> list[dict[str, Any]]:
        """Every object (of one asset, if given) as full JSON, by id."""
        with self.lock:
            self._complete_due_tasks()
            return [
                _object_json(obj)
                for obj in self._sorted(self._objects)
                if asset_id is None or obj.asset_id == asset_id
            ]

    def get_object(self, object_id: int) -> dict[str, Any]:
        """One object as full JSON (KeyError if unknown)."""
        with self.lock:
            self._complete_due_tasks()
            return _object_json(self._objects[object_id])

    def jobs(self) -> list[dict[str, Any]]:
        """Every job as ``WorkflowJobRead`` JSON, by id."""
        with self.lock:
            return [
                self._job_json(job, extended=False) for job in self._sorted(self._jobs)
            ]

    def get_job(self, job_id: int) -> dict[str, Any]:
        """One job as ``WorkflowJobRead`` JSON (KeyError if unknown)."""
        with self.lock:
            return self._job_json(self._jobs[job_id], extended=False)

    def dids(self) -> dict[str, str | None]:
        """Username to DID (None while it has none) for every user-meta row."""
        with self.lock:
            self._complete_due_tasks()
            return {name: meta.trust_did for name, meta in self._user_meta.items()}

    def tasks(self) -> list[dict[str, Any]]:
        """Every long-running task as JSON (plus its ``kind``), by id."""
        with self.lock:
            self._complete_due_tasks()
            return [
                {**_task_json(task), "kind": task.kind.value}
                for task in self._sorted(self._tasks)
            ]

    def get_task(self, task_id: int) -> dict[str, Any]:
        """One task as JSON (KeyError if unknown)."""
        with self.lock:
            self._complete_due_tasks()
            return _task_json(self._tasks[task_id])

    def uploaded_bytes(self, key: str) -> bytes:
        """The bytes stored under ``key`` (KeyError if none)."""
        with self.lock:
            return self._blobs[key]

    def uploaded_keys(self) -> list[str]:
        """Keys of every stored file, deleted records included."""
        with self.lock:
            return list(self._blobs)

    def trust_calls(self) -> list[dict[str, Any]]:
        """Calls the API made to the Trust service: endpoint and JSON body."""
        with self.lock:
            return [dict(call) for call in self._trust_calls]

    def published_messages(self) -> list[dict[str, Any]]:
        """Messages published by ``POST /job``, oldest first."""
        with self.lock:
            return [dict(message) for message in self._published]

    def issue_token(self, username: str) -> str:
        """An access token for ``username`` without an HTTP round trip."""
        with self.lock:
            return self._new_token(username)

    # ============================================================ serving

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Gateway, then routing, then API authentication, then the route."""
        self._complete_due_tasks()
        if _is_token_request(request):
            return self._token_route(request)
        public = _is_public_path(request.path)
        if not public:
            self._gateway_check(request)
        handler, params = self._router.resolve(request.method, request.path)
        user = None if public else self._authenticate(request)
        return handler(_Call(request, params, user))

    def _register_routes(self) -> None:
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/ping/public", self._ping),
            ("GET", "/asset/public", self._list_public_assets),
            ("GET", "/asset/object", self._list_objects),
            ("POST", "/asset/proof", self._request_proof),
            ("GET", "/asset/proof/task/{task_id}", self._read_task),
            ("GET", "/asset", self._list_assets),
            ("POST", "/asset", self._create_asset),
            ("GET", "/asset/{asset_id}", self._read_asset),
            ("POST", "/asset/{asset_id}/object", self._upload_object),
            ("DELETE", "/asset/{asset_id}/object/{object_id}", self._delete_object),
            ("PATCH", "/asset/{asset_id}/object/{object_id}", self._update_object),
            ("POST", "/user/did", self._request_did),
            ("GET", "/user/did/task/{task_id}", self._read_task),
            ("GET", "/job", self._list_jobs),
            ("POST", "/job", self._create_job),
            ("GET", "/job/{job_id}", self._read_job),
            ("PATCH", "/job/{job_id}", self._update_job),
        ]
        for method, template, handler in routes:
            self._router.add(method, template, handler)

    # ------------------------------------------------------- gateway, auth

    def _token_route(self, request: HttpRequest) -> HttpResponse:
        form = request.form()
        for name in ("username", "password"):
            if not form.get(name):
                raise HttpError(
                    HTTPStatus.UNPROCESSABLE_ENTITY, {"message": f"{name} is missing."}
                )
        if not self.keycloak_reachable:
            raise HttpError(HTTPStatus.UNAUTHORIZED, TOKEN_ENDPOINT_FAILED)
        account = self._accounts.get(form["username"])
        if account is None or account.password != form["password"]:
            raise HttpError(HTTPStatus.UNAUTHORIZED, INVALID_GRANT)
        return json_response(
            {
                "access_token": self._new_token(account.username),
                "expires_in": self.token_expires_in,
                "refresh_expires_in": self.refresh_expires_in,
                "refresh_token": secrets.token_urlsafe(32),
                "token_type": "Bearer",
                "not-before-policy": 0,
                "session_state": str(uuid.uuid4()),
                "scope": "profile email",
            }
        )

    def _new_token(self, username: str) -> str:
        value = secrets.token_urlsafe(32)
        self._tokens[value] = _Token(username, self.now() + self.token_expires_in)
        return value

    def _gateway_check(self, request: HttpRequest) -> None:
        if request.header("Authorization") is None:
            raise HttpError(HTTPStatus.UNAUTHORIZED, MISSING_JWT)
        if not self.keycloak_reachable:
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE)

    def _authenticate(self, request: HttpRequest) -> _Account | None:
        """The calling account; None for a role-less caller of an optional route.

        ``GET /asset`` (list and by id) serves callers without an API role as
        anonymous: public assets only.
        """
        match = _BEARER_PATTERN.match(request.header("Authorization") or "")
        token = self._tokens.get(match.group(1)) if match else None
        if token is None:
            raise HttpError(HTTPStatus.UNAUTHORIZED, INVALID_BEARER)
        if self.now() > token.expires_at + self.token_leeway_s:
            raise HttpError(
                HTTPStatus.UNAUTHORIZED, {"detail": "Signature has expired"}
            )
        account = self._accounts.get(token.username)
        if account is None or not account.api_access:
            if _is_optional_user_route(request):
                return None
            raise HttpError(HTTPStatus.UNAUTHORIZED, NO_API_ACCESS)
        return account

    def standing_fault(self, request: HttpRequest) -> HttpResponse | None:
        """``GET /job/{id}`` fails slowly while the API's S3 is down."""
        if self.api_s3_reachable or not _is_job_read(request):
            return None
        self._stopping.wait(self.api_s3_failure_delay_s)
        return text_response("Internal Server Error", HTTPStatus.INTERNAL_SERVER_ERROR)

    # -------------------------------------------------------------- ping

    def _ping(self, call: _Call) -> HttpResponse:
        return json_response(
            {
                "python_version": sys.version,
                "datetime": _iso(self.utcnow()),
                "request_headers": dict(call.request.headers.items()),
                "user": None,
                "broker_connection": None,
            }
        )

    # ------------------------------------------------------------- assets

    def _list_assets(self, call: _Call) -> HttpResponse:
        paging = parse_paging(call.request)
        user = call.user
        if user is not None:
            _enforce(user, "asset", "read")
        query = ListQuery.from_request(call.request, paging)
        rows = [
            asset
            for asset in self._assets.values()
            if (user is not None and (user.admin or self._sees(user, asset)))
            or (user is None and asset.access_level == "public")
        ]
        return self._list_response(query, rows, ASSET_SCHEMA, "asset", self._asset_json)

    def _list_public_assets(self, call: _Call) -> HttpResponse:
        query = ListQuery.from_request(call.request, parse_paging(call.request))
        rows = [a for a in self._assets.values() if a.access_level == "public"]
        return self._list_response(query, rows, ASSET_SCHEMA, "asset", self._asset_json)

    def _create_asset(self, call: _Call) -> HttpResponse:
        body = _json_body(call, _AssetCreate)
        user = call.account
        _enforce(user, "asset", "create")
        asset_uuid = body.uuid or _new_uuid_hex()
        if any(asset.uuid == asset_uuid for asset in self._assets.values()):
            raise HttpError(HTTPStatus.CONFLICT, INTEGRITY_ERROR)
        ownerless = body.is_public_ownerless
        asset = _Asset(
            id=self._next_id("asset"),
            uuid=asset_uuid,
            name=body.name,
            description=body.description,
            meta=body.meta,
            created_at=self.utcnow(),
            access_level="public" if ownerless else body.access_level,
            username=None if ownerless else user.username,
        )
        self._store_asset(asset)
        return json_response(self._asset_json(asset))

    def _read_asset(self, call: _Call) -> HttpResponse:
        asset_id = _path_int(call, "asset_id")
        user = call.user
        if user is None:
            asset = self._assets.get(asset_id)
            if asset is None or asset.access_level != "public":
                raise HttpError(HTTPStatus.NOT_FOUND, NOT_FOUND)
            return json_response(self._asset_json(asset))
        _enforce(user, "asset", "read")
        return json_response(self._asset_json(self._visible_asset(asset_id, user)))

    # ------------------------------------------------------------ objects

    def _list_objects(self, call: _Call) -> HttpResponse:
        paging = parse_paging(call.request)
        user = call.account
        _enforce(user, "uploaded_object", "read")
        query = ListQuery.from_request(call.request, paging)
        return self._list_response(
            query, list(self._objects.values()), OBJECT_SCHEMA, "object", _object_json
        )

    def _upload_object(self, call: _Call) -> HttpResponse:
        asset_id = _path_int(call, "asset_id")
        fields, file_part = self._upload_form(call.request)
        user = call.account
        _enforce(user, "asset", "update")
        tags = _upload_tags(fields.get("tags"))
        asset = self._visible_asset(asset_id, user, admin_bypass=False)
        count = len(self._objects_by_asset.get(asset.id, {}))
        if count >= self.max_objects_per_asset:
            raise HttpError(
                HTTPStatus.BAD_REQUEST,
                {
                    "detail": f"Asset already has {count} objects, cannot upload "
                    f"more than {self.max_objects_per_asset}"
                },
            )
        key = _object_key(user.username, file_part.filename or "")
        obj = self._new_object(
            asset.id,
            key,
            file_part.data,
            hashlib.sha256(file_part.data).hexdigest(),
            self.utcnow(),
        )
        obj.tags, obj.series_id = tags, fields.get("series_id")
        obj.name, obj.description = fields.get("name"), fields.get("description")
        self._put_bytes(obj, file_part.data)
        self._store_object(obj)
        return json_response(_object_json(obj))

    def _upload_form(
        self, request: HttpRequest
    ) -> tuple[dict[str, str], MultipartPart]:
        missing_obj = validation_error(
            [
                {
                    "type": "missing",
                    "loc": ["body", "obj"],
                    "msg": "Field required",
                    "input": None,
                }
            ]
        )
        if request.media_type != "multipart/form-data":
            raise missing_obj
        try:
            parts = parse_multipart(request.header("Content-Type") or "", request.body)
        except (MultipartError, UnicodeDecodeError) as error:
            raise HttpError(
                HTTPStatus.BAD_REQUEST,
                {"detail": "There was an error parsing the body"},
            ) from error
        files = [part for part in parts if part.name == "obj"]
        if not files:
            raise missing_obj
        if not files[0].filename:
            raise HttpError(
                HTTPStatus.BAD_REQUEST, {"detail": "The uploaded file has no filename"}
            )
        fields = {part.name: part.text() for part in parts if part.filename is None}
        return fields, files[0]

    def _put_bytes(self, obj: _Object, data: bytes) -> None:
        self._blobs[obj.key] = data
        if self._s3_client is None:
            return
        answer = self._s3_client.put_object(Bucket=obj.bucket, Key=obj.key, Body=data)
        obj.etag = str(answer.get("ETag", obj.etag))

    def _delete_object(self, call: _Call) -> HttpResponse:
        asset_id = _path_int(call, "asset_id")
        object_id = _path_int(call, "object_id")
        user = call.account
        _enforce(user, "asset", "delete")
        self._visible_asset(asset_id, user)
        obj = self._objects.get(object_id)
        if obj is None:
            raise HttpError(HTTPStatus.NOT_FOUND, NOT_FOUND)
        del self._objects[object_id]
        self._objects_by_asset.get(obj.asset_id, {}).pop(object_id, None)
        self._touch("object")
        return json_response({"ok": True, "asset_id": asset_id, "object_id": object_id})

    def _update_object(self, call: _Call) -> HttpResponse:
        asset_id = _path_int(call, "asset_id")
        object_id = _path_int(call, "object_id")
        body = _json_body(call, _ObjectUpdate)
        user = call.account
        _enforce(user, "asset", "update")
        asset = self._visible_asset(asset_id, user)
        obj = self._objects.get(object_id)
        if obj is None or obj.asset_id != asset.id:
            raise HttpError(HTTPStatus.NOT_FOUND, NOT_FOUND)
        for name, value in body.model_dump(exclude_unset=True).items():
            setattr(obj, name, value)
        self._touch("object")
        return json_response(_object_read_json(obj))

    # -------------------------------------------------------------- trust

    def _request_proof(self, call: _Call) -> HttpResponse:
        body = _json_body(call, _ProofRequest)
        user = call.account
        self._require_trust()
        obj = self._find_object(body.object_key_or_id)
        if obj is None:
            raise HttpError(HTTPStatus.NOT_FOUND, NOT_FOUND)
        owner = self._assets[obj.asset_id].username
        if not user.admin and not (owner and owner == user.username):
            raise HttpError(HTTPStatus.FORBIDDEN, FORBIDDEN)
        if obj.proof_id:
            return json_response({"task_id": None, "obj": _object_json(obj)})
        task = self._start_proof_task(user.username, body.object_key_or_id)
        return json_response({"task_id": task.id, "obj": None})

    def _request_did(self, call: _Call) -> HttpResponse:
        body = _json_body(call, _DidRequest)
        user = call.account
        self._require_trust()
        if user.username != body.username and not user.admin:
            raise HttpError(HTTPStatus.FORBIDDEN, FORBIDDEN)
        meta = self._ensure_user_meta(body.username)
        if meta.trust_did:
            return json_response({"task_id": None, "user_meta": _user_meta_json(meta)})
        task = self._start_did_task(user.username, body.username)
        return json_response({"task_id": task.id, "user_meta": None})

    def _read_task(self, call: _Call) -> HttpResponse:
        task_id = _path_int(call, "task_id")
        user = call.account
        task = self._tasks.get(task_id)
        if task is None or (not user.admin and task.username_owner != user.username):
            raise HttpError(HTTPStatus.NOT_FOUND, NOT_FOUND)
        return json_response(_task_json(task))

    def _require_trust(self) -> None:
        if not self.trust_configured:
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE)

    # --------------------------------------------------------------- jobs

    def _list_jobs(self, call: _Call) -> HttpResponse:
        paging = parse_paging(call.request)
        user = call.account
        _enforce(user, "workflow_job", "read")
        query = ListQuery.from_request(call.request, paging)
        rows = [
            job for job in self._jobs.values() if job.creator_username == user.username
        ]
        return self._list_response(
            query,
            rows,
            JOB_SCHEMA,
            "job",
            lambda job: self._job_json(job, extended=False),
        )

    def _read_job(self, call: _Call) -> HttpResponse:
        job_id = _path_int(call, "job_id")
        user = call.account
        _enforce(user, "workflow_job", "read")
        job = self._jobs.get(job_id)
        if job is None or (not user.admin and job.creator_username != user.username):
            raise HttpError(HTTPStatus.NOT_FOUND, NOT_FOUND)
        extended = bool(call.request.query_value("with_extended_results"))
        return json_response(self._job_json(job, extended=extended))

    def _update_job(self, call: _Call) -> HttpResponse:
        job_id = _path_int(call, "job_id")
        body = _json_body(call, _JobUpdate)
        user = call.account
        _enforce(user, "workflow_job", "update")
        job = self._jobs.get(job_id)
        if job is None or (not user.admin and job.creator_username != user.username):
            raise HttpError(HTTPStatus.NOT_FOUND, NOT_FOUND)
        finalised_at = body.finalised_at or self.utcnow()
        if finalised_at.tzinfo is not None:
            raise database_error()
        job.results = body.results
        job.finalised_at = finalised_at
        self._touch("job")
        return json_response(self._job_json(job, extended=False))

    def _create_job(self, call: _Call) -> HttpResponse:
        body = _json_body(call, _JobCreate)
        user = call.account
        if not self.broker_configured:
            raise HttpError(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                {"detail": "Message broker connection not available."},
            )
        self._check_job_debounce(user.username, body.job_type)
        arguments = _job_arguments(body)
        _enforce(user, "workflow_job", "create")
        job_id = self.add_job(
            user.username, arguments=body.arguments, job_type=body.job_type
        )
        try:
            obj = self._job_input(user, arguments.uploaded_s3_object_id)
        except HttpError:
            del self._jobs[job_id]
            self._touch("job")
            raise
        message = {
            "workflow_job_id": job_id,
            "analysis_variable": arguments.analysis_variable,
            "bucket": obj.bucket,
            "key": obj.key,
        }
        self._published.append(message)
        if self._job_publisher is not None:
            self._job_publisher(dict(message))
        return json_response(self._job_json(self._jobs[job_id], extended=False))

    def _check_job_debounce(self, username: str, job_type: str) -> None:
        since = self.utcnow() - timedelta(seconds=JOB_DEBOUNCE_S)
        for job in self._jobs.values():
            recent = job.created_at > since
            if job.creator_username == username and job.job_type == job_type and recent:
                raise HttpError(
                    HTTPStatus.BAD_REQUEST,
                    {"detail": "Not allowed to create job. Please try again later."},
                )

    def _job_input(self, user: _Account, object_id: int) -> _Object:
        obj = self._objects.get(object_id)
        if obj is None:
            raise HttpError(HTTPStatus.NOT_FOUND, {"detail": "Asset object not found."})
        asset = self._assets[obj.asset_id]
        allowed = (
            user.admin
            or asset.username == user.username
            or asset.access_level == "public"
        )
        if not allowed:
            raise HttpError(
                HTTPStatus.FORBIDDEN,
                {
                    "detail": "User does not have permission to run a workflow "
                    "on this asset."
                },
            )
        return obj

    # ====================================================== task machinery

    def _start_did_task(self, requester: str, username: str) -> _Task:
        task = self._new_task(TaskKind.DID, requester, username)
        meta = self._user_meta.get(username)
        if meta is None:
            return self._fail_task(task, f"User {username} not found")
        if meta.trust_did:
            return self._fail_task(task, f"User {username} already has a DID")
        self._trust_calls.append({"endpoint": "/api/dids", "json": None})
        return self._schedule(task, self._take_outcome(TaskKind.DID, [username]))

    def _start_proof_task(self, requester: str, key_or_id: str | int) -> _Task:
        task = self._new_task(TaskKind.PROOF, requester, key_or_id)
        obj = self._find_object(key_or_id)
        if obj is None:
            return self._fail_task(task, f"Asset object '{key_or_id}' not found")
        if not obj.sha256_hash:
            return self._fail_task(task, f"Asset object '{key_or_id}' has no hash")
        if obj.proof_id:
            return self._fail_task(
                task, f"Asset object '{key_or_id}' already has a proof"
            )
        owner = self._assets[obj.asset_id].username or requester
        meta = self._user_meta.get(owner)
        if meta is None or not meta.trust_did:
            return self._fail_task(
                task,
                f"User {owner} does not have a DID and thus cannot be a proof owner",
            )
        payload = {
            "assetId": obj.key,
            "assetHash": obj.sha256_hash,
            "metadataHash": obj.sha256_hash,
            "did": meta.trust_did,
        }
        self._trust_calls.append({"endpoint": "/api/proofs", "json": payload})
        outcome = self._take_outcome(TaskKind.PROOF, [str(obj.id), obj.key])
        return self._schedule(task, outcome)

    def _new_task(self, kind: TaskKind, requester: str, subject: str | int) -> _Task:
        task = _Task(self._next_id("task"), kind, requester, subject, self.utcnow())
        self._tasks[task.id] = task
        return task

    def _fail_task(self, task: _Task, message: str) -> _Task:
        task.error = _exception_repr("ValueError", message)
        task.finished_at = self.utcnow()
        return task

    def _schedule(self, task: _Task, outcome: TrustOutcome) -> _Task:
        task.outcome = outcome
        if outcome is not TrustOutcome.NEVER_FINISHES:
            task.due_at = self.now() + self.task_delay_s
            self._pending[task.id] = task
        return task

    def _take_outcome(self, kind: TaskKind, subjects: Iterable[str]) -> TrustOutcome:
        for subject in subjects:
            rule = self._outcomes.get((kind, subject))
            if rule is None:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    del self._outcomes[(kind, subject)]
            return rule.outcome
        return self.default_trust_outcome

    def _complete_due_tasks(self) -> None:
        now = self.now()
        due = [
            task
            for task in self._pending.values()
            if task.due_at is not None and task.due_at <= now
        ]
        for task in sorted(due, key=lambda item: (item.due_at or 0.0, item.id)):
            del self._pending[task.id]
            if task.outcome is not TrustOutcome.SUCCESS:
                endpoint = "/api/dids" if task.kind is TaskKind.DID else "/api/proofs"
                task.error = _trust_error(task.outcome, endpoint)
                task.finished_at = self.utcnow()
            elif task.kind is TaskKind.DID:
                self._finish_did(task)
            else:
                self._finish_proof(task)

    def _finish_did(self, task: _Task) -> None:
        username = str(task.subject)
        meta = self._user_meta.get(username)
        if meta is None:
            self._fail_task(task, f"User {username} not found")
            return
        if meta.trust_did:
            self._fail_task(
                task,
                f"The DID for user {username} seems to have been created "
                "in the meantime",
            )
            return
        meta.trust_did = _new_did()
        task.result = {"id": meta.id, **_user_meta_json(meta)}
        task.finished_at = self.utcnow()

    def _finish_proof(self, task: _Task) -> None:
        obj = self._find_object(task.subject)
        if obj is None:
            self._fail_task(task, f"Asset object '{task.subject}' not found")
            return
        if obj.proof_id:
            self._fail_task(
                task,
                f"The proof for object '{task.subject}' seems to have been created "
                "in the meantime",
            )
            return
        obj.proof_id = _new_proof_id()
        self._touch("object")
        task.result = _object_json(obj)
        task.finished_at = self.utcnow()

    # ============================================================ internals

    def _next_id(self, table: str) -> int:
        value = self._next_ids.get(table, 0) + 1
        self._next_ids[table] = value
        return value

    def _touch(self, table: str) -> None:
        self._versions[table] += 1

    @staticmethod
    def _sorted(table: dict[int, Any]) -> list[Any]:
        return [table[key] for key in sorted(table)]

    def _store_asset(self, asset: _Asset) -> None:
        self._assets[asset.id] = asset
        self._objects_by_asset.setdefault(asset.id, {})
        self._touch("asset")

    def _store_object(self, obj: _Object) -> None:
        self._objects[obj.id] = obj
        self._objects_by_asset.setdefault(obj.asset_id, {})[obj.id] = None
        self._touch("object")

    def _new_object(
        self,
        asset_id: int,
        key: str,
        data: bytes,
        sha256_hash: str | None,
        created_at: datetime,
    ) -> _Object:
        parts = max(1, math.ceil(len(data) / UPLOAD_PART_SIZE))
        etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}-{parts}"'
        return _Object(
            id=self._next_id("object"),
            key=key,
            bucket=self.bucket,
            etag=etag,
            location=f"{self._s3_endpoint_url}/{self.bucket}/{quote(key)}",
            asset_id=asset_id,
            tags=None,
            created_at=created_at,
            series_id=None,
            sha256_hash=sha256_hash,
            proof_id=None,
            meta=None,
            name=None,
            description=None,
        )

    def _seed_key(self, asset: _Asset, stem: str, extension: str) -> str:
        owner = asset.username or DEFAULT_UPLOADER
        return f"{owner}-assets/{stem}-{uuid.uuid4()}{extension}"

    def _require_asset(self, asset_id: int) -> _Asset:
        asset = self._assets.get(asset_id)
        if asset is None:
            raise KeyError(f"no asset {asset_id}")
        return asset

    def _require_object(self, object_id: int) -> _Object:
        obj = self._objects.get(object_id)
        if obj is None:
            raise KeyError(f"no object {object_id}")
        return obj

    def _ensure_user_meta(self, username: str) -> _UserMeta:
        meta = self._user_meta.get(username)
        if meta is None:
            meta = _UserMeta(self._next_id("user_meta"), username, self.utcnow())
            self._user_meta[username] = meta
        return meta

    def _find_object(self, key_or_id: str | int) -> _Object | None:
        if isinstance(key_or_id, int):
            return self._objects.get(key_or_id)
        if _NUMERIC.match(key_or_id) and int(key_or_id) in self._objects:
            return self._objects[int(key_or_id)]
        for obj in self._objects.values():
            if obj.key == key_or_id:
                return obj
        return None

    def _sees(self, user: _Account, asset: _Asset) -> bool:
        return asset.username == user.username or asset.access_level == "public"

    def _visible_asset(
        self, asset_id: int, user: _Account, *, admin_bypass: bool = True
    ) -> _Asset:
        asset = self._assets.get(asset_id)
        visible = asset is not None and (
            (admin_bypass and user.admin) or self._sees(user, asset)
        )
        if asset is None or not visible:
            raise HttpError(HTTPStatus.NOT_FOUND, NOT_FOUND)
        return asset

    def _asset_json(self, asset: _Asset) -> dict[str, Any]:
        object_ids = self._objects_by_asset.get(asset.id, {})
        return {
            "id": asset.id,
            "uuid": asset.uuid,
            "name": asset.name,
            "description": asset.description,
            "meta": asset.meta,
            "created_at": _iso(asset.created_at),
            "access_level": asset.access_level,
            "username": asset.username,
            "objects": [_object_read_json(self._objects[oid]) for oid in object_ids],
        }

    def _job_json(self, job: _Job, *, extended: bool) -> dict[str, Any]:
        return {
            "id": job.id,
            "job_type": job.job_type,
            "arguments": job.arguments,
            "results": job.results,
            "created_at": _iso(job.created_at),
            "finalised_at": _iso(job.finalised_at),
            "creator_username": job.creator_username,
            "extended_results": self._extended_results(job) if extended else None,
        }

    def _extended_results(self, job: _Job) -> dict[str, Any] | None:
        results = job.results or {}
        bucket = results.get("output_bucket")
        if job.finalised_at is None or job.job_type != MATRIX_PROFILE or not bucket:
            return None
        return {
            "download_url": self._presign(bucket, results.get("output_key")),
            "error_logs_download_url": self._presign(
                bucket, results.get("error_logs_key")
            ),
        }

    def _presign(self, bucket: str, key: str | None) -> str | None:
        if not key:
            return None
        if self._s3_client is not None:
            return str(
                self._s3_client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": bucket, "Key": key},
                    ExpiresIn=PRESIGNED_URL_EXPIRES_IN_S,
                )
            )
        signature = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()
        return (
            f"{self._s3_endpoint_url}/{bucket}/{quote(key)}"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Expires={PRESIGNED_URL_EXPIRES_IN_S}&X-Amz-Signature={signature}"
        )

    def _list_response(
        self,
        query: ListQuery,
        rows: list[Any],
        schema: Schema,
        table: str,
        render: Callable[[Any], dict[str, Any]],
    ) -> HttpResponse:
        salt = self._versions[table]
        page = query.run(rows, schema, natural_order=lambda row: scramble(row.id, salt))
        total = {"asset": self._assets, "object": self._objects, "job": self._jobs}[
            table
        ]
        return json_response(
            [render(row) for row in page], headers={"X-Total-Count": str(len(total))}
        )


# ------------------------------------------------------------ module helpers


def _new_uuid_hex() -> str:
    return uuid.uuid4().hex


def _new_did() -> str:
    return f"did:ethr:0x{secrets.token_hex(20)}"


def _new_proof_id() -> str:
    return f"0x{secrets.token_hex(32)}"


def _object_key(username: str, filename: str) -> str:
    stem, extension = os.path.splitext(filename)
    return f"{username}-assets/{slugify(stem)}-{uuid.uuid4()}{extension}"


def _upload_tags(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            {"detail": f"Tags should be a valid JSON object: {error}"},
        ) from error


def _job_arguments(body: _JobCreate) -> _MatrixProfileArguments:
    if body.job_type != MATRIX_PROFILE:
        raise HttpError(HTTPStatus.BAD_REQUEST, {"detail": "Unknown job type."})
    try:
        return _MatrixProfileArguments.model_validate(body.arguments)
    except ValidationError as error:
        raise HttpError(
            HTTPStatus.BAD_REQUEST, {"detail": "Invalid arguments for job type."}
        ) from error


__all__ = [
    "AUTO",
    "PlatformApiDouble",
    "TaskKind",
    "TrustOutcome",
    "slugify",
]
