"""Contract behaviour of the Platform API double, exercised over HTTP."""

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from moderate.resources import S3Resource
from moderate_tests.doubles import (
    API_ADMIN_PASSWORD,
    API_ADMIN_USERNAME,
    API_BASIC_USERNAME,
)
from moderate_tests.doubles.platform_api import PlatformApiDouble, TrustOutcome

TIMEOUT_S = 5.0
MISSING_JWT = {"message": "Missing JWT token in request"}
DB_ERROR = {"message": "Database operation error"}
TASK_WAIT_S = 3.0
POLL_INTERVAL_S = 0.02
TOKEN_LIFE_S = 300
INVALID_BEARER = {"error": "invalid_grant", "error_description": "Invalid bearer token"}
NO_API_ACCESS = {"detail": "API access is not enabled for this user"}
SEEDED_OBJECTS = 250
PAGE = 100
BULK_OBJECTS = 10_000
BULK_SEED_BUDGET_S = 3.0

Headers = dict[str, str]


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(platform_api: PlatformApiDouble) -> Headers:
    return bearer(platform_api.issue_token(API_ADMIN_USERNAME))


@pytest.fixture
def alice(platform_api: PlatformApiDouble) -> Headers:
    return bearer(platform_api.issue_token(API_BASIC_USERNAME))


@pytest.fixture
def call(
    platform_api: PlatformApiDouble,
) -> Callable[..., requests.Response]:
    def send(method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT_S)
        return requests.request(method, f"{platform_api.url}{path}", **kwargs)

    return send


def list_params(filters: Any = None, sorts: Any = None, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = dict(extra)
    if filters is not None:
        params["filters"] = json.dumps(filters)
    if sorts is not None:
        params["sorts"] = json.dumps(sorts)
    return params


def wait_task(
    call: Callable[..., requests.Response], path: str, headers: Headers
) -> dict[str, Any]:
    deadline = time.monotonic() + TASK_WAIT_S
    while True:
        task = call("GET", path, headers=headers).json()
        if task["finished_at"] is not None or time.monotonic() > deadline:
            return task
        time.sleep(POLL_INTERVAL_S)


# ------------------------------------------------------------------ token


def test_ping_is_public(call: Callable[..., requests.Response]) -> None:
    answer = call("GET", "/ping/public")
    assert answer.status_code == 200
    body = answer.json()
    assert body["user"] is None and body["broker_connection"] is None
    assert "python_version" in body and "T" in body["datetime"]


def test_token_success(call: Callable[..., requests.Response]) -> None:
    answer = call(
        "POST",
        "/api/token",
        data={"username": API_ADMIN_USERNAME, "password": API_ADMIN_PASSWORD},
    )
    assert answer.status_code == 200
    token = answer.json()
    assert token["expires_in"] == TOKEN_LIFE_S
    assert token["token_type"] == "Bearer"
    for key in ("access_token", "refresh_token", "refresh_expires_in", "scope"):
        assert token[key]
    assert call("GET", "/asset", headers=bearer(token["access_token"])).ok


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (
            "/api/token",
            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        ),
        ("/api/token", {"Content-Type": "application/json"}),
        ("/api/token?x=1", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("/api/token/", {"Content-Type": "application/x-www-form-urlencoded"}),
    ],
)
def test_token_route_needs_exact_path_and_content_type(
    call: Callable[..., requests.Response], path: str, headers: Headers
) -> None:
    body = f"username={API_ADMIN_USERNAME}&password={API_ADMIN_PASSWORD}"
    answer = call("POST", path, data=body, headers=headers)
    assert answer.status_code == 401
    assert answer.json() == MISSING_JWT


@pytest.mark.parametrize("missing", ["username", "password"])
def test_token_missing_field(
    call: Callable[..., requests.Response], missing: str
) -> None:
    form = {"username": API_ADMIN_USERNAME, "password": API_ADMIN_PASSWORD}
    del form[missing]
    answer = call("POST", "/api/token", data=form)
    assert answer.status_code == 422
    assert answer.json() == {"message": f"{missing} is missing."}


def test_token_bad_credentials_and_unreachable_keycloak(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
) -> None:
    form = {"username": API_ADMIN_USERNAME, "password": "wrong"}
    answer = call("POST", "/api/token", data=form)
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_grant")
    platform_api.keycloak_reachable = False
    form["password"] = API_ADMIN_PASSWORD
    answer = call("POST", "/api/token", data=form)
    assert answer.json() == {"message": "Accessing token endpoint URL failed."}


def test_bearer_rules(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
) -> None:
    assert call("GET", "/asset").json() == MISSING_JWT
    invalid = call("GET", "/asset", headers=bearer("nope"))
    assert (invalid.status_code, invalid.json()) == (401, INVALID_BEARER)
    token = platform_api.issue_token(API_ADMIN_USERNAME)
    platform_api.advance_clock(TOKEN_LIFE_S - 1)
    assert call("GET", "/asset", headers=bearer(token)).ok
    platform_api.advance_clock(2)
    expired = call("GET", "/asset", headers=bearer(token))
    assert (expired.status_code, expired.json()) == (
        401,
        {"detail": "Signature has expired"},
    )


def test_an_upload_one_second_past_expiry_is_refused_after_its_body(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
) -> None:
    asset_id = platform_api.add_asset("lake", username=API_ADMIN_USERNAME)
    token = platform_api.issue_token(API_ADMIN_USERNAME)
    platform_api.advance_clock(TOKEN_LIFE_S + 1)
    late = call(
        "POST",
        f"/asset/{asset_id}/object",
        files={"obj": ("a.csv", b"a,b\n")},
        headers=bearer(token),
    )
    assert (late.status_code, late.json()) == (401, {"detail": "Signature has expired"})
    assert platform_api.objects(asset_id) == []


def test_expire_and_revoke_tokens(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
) -> None:
    first = platform_api.issue_token(API_ADMIN_USERNAME)
    platform_api.expire_all_tokens()
    assert call("GET", "/asset", headers=bearer(first)).status_code == 401
    second = platform_api.issue_token(API_ADMIN_USERNAME)
    platform_api.revoke_all_tokens()
    assert call("GET", "/asset", headers=bearer(second)).status_code == 401


def test_account_without_api_role_gets_401_except_on_asset_reads(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
) -> None:
    platform_api.add_user("norole", "pw", api_access=False)
    public = platform_api.add_asset("open", access_level="public")
    platform_api.add_asset("closed", username=API_ADMIN_USERNAME)
    norole = bearer(platform_api.issue_token("norole"))
    listed = call("GET", "/asset", headers=norole)
    assert [asset["id"] for asset in listed.json()] == [public]
    assert call("GET", f"/asset/{public}", headers=norole).ok
    for path in ("/asset/object", "/job"):
        answer = call("GET", path, headers=norole)
        assert (answer.status_code, answer.json()) == (401, NO_API_ACCESS)


def test_job_read_fails_slowly_while_the_api_s3_is_down(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
) -> None:
    job_id = platform_api.add_job(API_BASIC_USERNAME)
    platform_api.api_s3_reachable = False
    read = call("GET", f"/job/{job_id}", headers=admin)
    assert (read.status_code, read.text) == (500, "Internal Server Error")
    patch = call("PATCH", f"/job/{job_id}", json={"results": {"a": 1}}, headers=admin)
    assert patch.ok
    platform_api.api_s3_reachable = True
    assert call("GET", f"/job/{job_id}", headers=admin).json()["results"] == {"a": 1}


def test_basic_access_policy(
    call: Callable[..., requests.Response],
    alice: Headers,
    platform_api: PlatformApiDouble,
) -> None:
    assert call("GET", "/asset/object", headers=alice).status_code == 403
    job_id = platform_api.add_job(API_BASIC_USERNAME)
    patch = call("PATCH", f"/job/{job_id}", json={"results": {}}, headers=alice)
    assert (patch.status_code, patch.json()) == (403, {"detail": "Forbidden"})
    assert call("GET", f"/job/{job_id}", headers=alice).ok


def test_routing_errors(call: Callable[..., requests.Response], admin: Headers) -> None:
    assert call("GET", "/nowhere").status_code == 401
    assert call("GET", "/nowhere", headers=admin).status_code == 404
    assert call("PUT", "/asset", headers=admin).status_code == 405
    assert call("GET", "/asset/abc", headers=admin).status_code == 422


# ----------------------------------------------------------------- assets


def test_create_asset_duplicate_uuid_and_ownerless(
    call: Callable[..., requests.Response], alice: Headers
) -> None:
    created = call("POST", "/asset", json={"name": "a", "uuid": "u-1"}, headers=alice)
    assert created.ok
    assert created.json()["username"] == API_BASIC_USERNAME
    assert created.json()["access_level"] == "private"
    again = call("POST", "/asset", json={"name": "b", "uuid": "u-1"}, headers=alice)
    assert (again.status_code, again.json()) == (409, DB_ERROR)
    body = {"name": "c", "is_public_ownerless": True, "access_level": "private"}
    ownerless = call("POST", "/asset", json=body, headers=alice).json()
    assert ownerless["username"] is None and ownerless["access_level"] == "public"
    missing = call("POST", "/asset", json={}, headers=alice)
    assert missing.status_code == 422
    assert missing.json()["detail"] == [
        {
            "loc": ["body", "name"],
            "msg": "field required",
            "type": "value_error.missing",
        }
    ]


def test_asset_visibility(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    alice: Headers,
    admin: Headers,
) -> None:
    private = platform_api.add_asset("p", username=API_ADMIN_USERNAME)
    public = platform_api.add_asset(
        "q", username=API_ADMIN_USERNAME, access_level="public"
    )
    own = platform_api.add_asset("r", username=API_BASIC_USERNAME)
    assert call("GET", f"/asset/{private}", headers=alice).status_code == 404
    assert call("GET", f"/asset/{public}", headers=alice).ok
    assert call("GET", f"/asset/{own}", headers=admin).ok
    seen = {asset["id"] for asset in call("GET", "/asset", headers=alice).json()}
    assert seen == {public, own}
    assert len(call("GET", "/asset", headers=admin).json()) == 3
    assert [a["id"] for a in call("GET", "/asset/public").json()] == [public]


# ------------------------------------------------------------------ lists


@pytest.fixture
def seeded(platform_api: PlatformApiDouble) -> list[int]:
    asset = platform_api.add_asset("data", username=API_BASIC_USERNAME)
    return platform_api.add_objects(asset, SEEDED_OBJECTS)


def test_paging_with_sort_and_total_count(
    call: Callable[..., requests.Response], admin: Headers, seeded: list[int]
) -> None:
    collected: list[int] = []
    offset = 0
    while True:
        params = list_params(sorts=[["id", "asc"]], offset=offset, limit=PAGE)
        answer = call("GET", "/asset/object", params=params, headers=admin)
        assert answer.headers["X-Total-Count"] == str(SEEDED_OBJECTS)
        page = [row["id"] for row in answer.json()]
        collected.extend(page)
        if len(page) < PAGE:
            break
        offset += PAGE
    assert collected == seeded
    filtered = call(
        "GET",
        "/asset/object",
        params=list_params(filters=[["id", "eq", seeded[0]]]),
        headers=admin,
    )
    assert len(filtered.json()) == 1
    assert filtered.headers["X-Total-Count"] == str(SEEDED_OBJECTS)


def test_limit_default_and_cap(
    call: Callable[..., requests.Response], admin: Headers, seeded: list[int]
) -> None:
    assert len(call("GET", "/asset/object", headers=admin).json()) == PAGE
    answer = call("GET", "/asset/object", params={"limit": 101}, headers=admin)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {
            "loc": ["query", "limit"],
            "msg": "ensure this value is less than or equal to 100",
            "type": "value_error.number.not_le",
            "ctx": {"limit_value": 100},
        }
    ]


def test_unsorted_order_is_not_id_order(
    call: Callable[..., requests.Response], admin: Headers, seeded: list[int]
) -> None:
    ids = [row["id"] for row in call("GET", "/asset/object", headers=admin).json()]
    assert ids != sorted(ids) and ids != sorted(ids, reverse=True)
    descending = call(
        "GET",
        "/asset/object",
        params=list_params(sorts=[["id", "desc"]]),
        headers=admin,
    ).json()
    assert [row["id"] for row in descending] == sorted(seeded, reverse=True)[:PAGE]


def test_null_filters(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
    seeded: list[int],
) -> None:
    platform_api.set_proof(seeded[0], "proof-1")
    pending = call(
        "GET",
        "/asset/object",
        params=list_params(filters=[["proof_id", "eq", None]], limit=PAGE),
        headers=admin,
    ).json()
    assert seeded[0] not in {row["id"] for row in pending}
    proven = call(
        "GET",
        "/asset/object",
        params=list_params(
            filters=[{"field": "proof_id", "operator": "ne", "value": None}]
        ),
        headers=admin,
    ).json()
    assert [row["id"] for row in proven] == [seeded[0]]
    not_other = call(
        "GET",
        "/asset/object",
        params=list_params(filters=[["proof_id", "ne", "other"]]),
        headers=admin,
    ).json()
    assert [row["id"] for row in not_other] == [seeded[0]]


def test_value_sniffing(
    call: Callable[..., requests.Response], admin: Headers, seeded: list[int]
) -> None:
    def ids(filters: Any) -> Any:
        params = list_params(filters=filters, sorts=[["id", "asc"]])
        answer = call("GET", "/asset/object", params=params, headers=admin)
        return [row["id"] for row in answer.json()] if answer.ok else answer

    assert ids([["id", "in", "1,2,3"]]) == [1, 2, 3]
    assert ids([["id", "in", "[4, 5]"]]) == [4, 5]
    assert ids([["id", "nin", "[1]"], ["id", "lte", "3"]]) == [2, 3]
    assert ids(["id", "eq", "7"]) == [7]
    numeric_key = ids([["key", "eq", "123"]])
    assert numeric_key.status_code == 500 and numeric_key.json() == DB_ERROR
    assert ids([["created_at", "gte", "2000-01-01T00:00:00Z"]])[:2] == [1, 2]
    assert ids([["created_at", "lt", "2000-01-01T00:00:00+02:00"]]) == []


def test_filter_and_sort_errors(
    call: Callable[..., requests.Response], admin: Headers
) -> None:
    def status(**params: str) -> tuple[int, str]:
        answer = call("GET", "/asset/object", params=params, headers=admin)
        return answer.status_code, answer.headers["Content-Type"]

    assert status(filters="[[")[0] == 400
    assert status(sorts="{")[0] == 400
    assert status(filters=json.dumps(["proof_id", "eq", None]))[0] == 400
    assert status(sorts=json.dumps([["id", "up"]]))[0] == 400
    assert status(filters=json.dumps([["nope", "eq", "1"]])) == (
        500,
        "text/plain; charset=utf-8",
    )
    assert status(filters=json.dumps([["id", "like", "1"]]))[0] == 500
    assert status(sorts=json.dumps([["nope", "asc"]]))[0] == 500


def test_contains_is_a_word_match(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
) -> None:
    asset = platform_api.add_asset("a", username=API_ADMIN_USERNAME)
    word = platform_api.add_object(asset, "workflows-assets/energy-load.csv")
    platform_api.add_object(asset, "workflows-assets/energyload.csv")

    def ids(value: str) -> list[int]:
        params = list_params(filters=[["key", "contains", value]])
        return [
            row["id"]
            for row in call("GET", "/asset/object", params=params, headers=admin).json()
        ]

    assert ids("energy") == [word]
    assert ids("ENERGY load") == [word]
    assert ids("nerg") == []


def test_job_list_is_own_only_even_for_admin(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
) -> None:
    mine = platform_api.add_job(API_ADMIN_USERNAME)
    platform_api.add_job(API_BASIC_USERNAME)
    answer = call("GET", "/job", headers=admin)
    assert [job["id"] for job in answer.json()] == [mine]
    assert answer.headers["X-Total-Count"] == "2"


# ---------------------------------------------------------------- uploads


def upload(
    call: Callable[..., requests.Response],
    asset_id: int,
    headers: Headers,
    data: bytes = b"a;b\r\n1;2\r\n",
    filename: str = "Load Data.CSV",
    **fields: str,
) -> requests.Response:
    files = {"obj": (filename, data)}
    return call(
        "POST", f"/asset/{asset_id}/object", files=files, data=fields, headers=headers
    )


def test_upload_key_hash_and_bytes(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    alice: Headers,
) -> None:
    import hashlib

    asset = platform_api.add_asset("mine", username=API_BASIC_USERNAME)
    data = bytes(range(256)) * 64
    answer = upload(
        call, asset, alice, data, tags='{"commit_sha": "abc"}', series_id="s"
    )
    assert answer.ok, answer.text
    obj = answer.json()
    assert obj["key"].startswith("alice-assets/load-data-") and obj["key"].endswith(
        ".CSV"
    )
    assert obj["sha256_hash"] == hashlib.sha256(data).hexdigest()
    assert obj["tags"] == {"commit_sha": "abc"} and obj["series_id"] == "s"
    assert obj["bucket"] == "platform-api" and obj["proof_id"] is None
    assert platform_api.uploaded_bytes(obj["key"]) == data
    second = upload(call, asset, alice, data).json()
    assert second["key"] != obj["key"] and second["sha256_hash"] == obj["sha256_hash"]


def test_upload_errors(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    alice: Headers,
    admin: Headers,
) -> None:
    asset = platform_api.add_asset("mine", username=API_BASIC_USERNAME)
    assert upload(call, asset, alice, tags="{not json").status_code == 400
    assert upload(call, asset, alice, filename="").status_code == 400
    assert upload(call, asset, admin).status_code == 404
    ownerless = platform_api.add_asset("open", access_level="public")
    assert upload(call, ownerless, admin).json()["key"].startswith("workflows-assets/")


def test_upload_limit(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    alice: Headers,
) -> None:
    asset = platform_api.add_asset("full", username=API_BASIC_USERNAME)
    platform_api.add_objects(asset, platform_api.max_objects_per_asset)
    answer = upload(call, asset, alice)
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "Asset already has 100 objects, cannot upload more than 100"
    }


def test_delete_and_patch_object(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    alice: Headers,
) -> None:
    asset = platform_api.add_asset("mine", username=API_BASIC_USERNAME)
    obj = upload(call, asset, alice).json()
    path = f"/asset/{asset}/object/{obj['id']}"
    patched = call("PATCH", path, json={"name": "n", "tags": {"k": "v"}}, headers=alice)
    assert patched.json()["name"] == "n" and "bucket" not in patched.json()
    deleted = call("DELETE", path, headers=alice).json()
    assert deleted == {"ok": True, "asset_id": asset, "object_id": obj["id"]}
    assert platform_api.objects() == []
    assert obj["key"] in platform_api.uploaded_keys()


# ------------------------------------------------------------------ trust


def test_did_task(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
    alice: Headers,
) -> None:
    assert (
        call("POST", "/user/did", json={"username": "bob"}, headers=alice).status_code
        == 403
    )
    started = call("POST", "/user/did", json={"username": "bob"}, headers=admin).json()
    assert started["user_meta"] is None
    task = wait_task(call, f"/user/did/task/{started['task_id']}", admin)
    assert task["error"] is None and task["result"]["trust_did"].startswith("did:")
    assert (
        call("GET", f"/user/did/task/{started['task_id']}", headers=alice).status_code
        == 404
    )
    again = call("POST", "/user/did", json={"username": "bob"}, headers=admin).json()
    assert again["task_id"] is None
    assert again["user_meta"]["trust_did"] == platform_api.dids()["bob"]


def test_proof_rules(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
    alice: Headers,
) -> None:
    owned = platform_api.add_asset("a", username=API_BASIC_USERNAME)
    ownerless = platform_api.add_asset("o", access_level="public")
    no_did = platform_api.add_object(owned)
    no_hash = platform_api.add_object(owned, sha256_hash=None)
    open_obj = platform_api.add_object(ownerless)

    def prove(key_or_id: Any, headers: Headers = admin) -> dict[str, Any]:
        started = call(
            "POST",
            "/asset/proof",
            json={"object_key_or_id": key_or_id},
            headers=headers,
        )
        assert started.ok, started.text
        return wait_task(call, f"/asset/proof/task/{started.json()['task_id']}", admin)

    assert prove(no_did)["error"] == (
        "ValueError('User alice does not have a DID and thus cannot be a proof owner')"
    )
    assert "has no hash" in prove(str(no_hash))["error"]
    assert "workflows does not have a DID" in prove(open_obj)["error"]
    did = platform_api.set_did(API_ADMIN_USERNAME)
    key = platform_api.get_object(open_obj)["key"]
    proven = prove(key)
    assert proven["error"] is None and proven["result"]["proof_id"]
    assert platform_api.trust_calls()[-1]["json"]["did"] == did
    done = call(
        "POST", "/asset/proof", json={"object_key_or_id": open_obj}, headers=admin
    )
    assert done.json()["task_id"] is None and done.json()["obj"]["id"] == open_obj
    assert (
        call(
            "POST", "/asset/proof", json={"object_key_or_id": open_obj}, headers=alice
        ).status_code
        == 403
    )
    assert (
        call(
            "POST", "/asset/proof", json={"object_key_or_id": 999}, headers=admin
        ).status_code
        == 404
    )


def test_trust_outcomes_and_restart(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
) -> None:
    platform_api.set_did_outcome("carol", TrustOutcome.HTTP_STATUS_ERROR, times=1)
    first = call("POST", "/user/did", json={"username": "carol"}, headers=admin).json()
    failed = wait_task(call, f"/user/did/task/{first['task_id']}", admin)
    assert failed["error"].startswith("HTTPStatusError(")
    platform_api.set_did_outcome("dave", TrustOutcome.NEVER_FINISHES)
    stuck = call("POST", "/user/did", json={"username": "dave"}, headers=admin).json()
    platform_api.advance_clock(3600)
    assert platform_api.get_task(stuck["task_id"])["finished_at"] is None
    fresh = bearer(platform_api.issue_token(API_ADMIN_USERNAME))
    lost = call("POST", "/user/did", json={"username": "carol"}, headers=fresh).json()
    platform_api.simulate_restart()
    platform_api.advance_clock(3600)
    assert platform_api.get_task(lost["task_id"])["finished_at"] is None


def test_concurrent_proofs_race(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
) -> None:
    asset = platform_api.add_asset("a", username=API_ADMIN_USERNAME)
    obj = platform_api.add_object(asset)
    platform_api.set_did(API_ADMIN_USERNAME)
    body = {"object_key_or_id": obj}
    tasks = [
        call("POST", "/asset/proof", json=body, headers=admin).json()["task_id"]
        for _ in range(2)
    ]
    results = [wait_task(call, f"/asset/proof/task/{task}", admin) for task in tasks]
    assert results[0]["error"] is None
    assert "created in the meantime" in results[1]["error"]


def test_trust_not_configured(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
) -> None:
    platform_api.trust_configured = False
    answer = call("POST", "/user/did", json={"username": "x"}, headers=admin)
    assert (answer.status_code, answer.json()) == (
        503,
        {"detail": "Service Unavailable"},
    )
    answer = call("POST", "/asset/proof", json={"object_key_or_id": 1}, headers=admin)
    assert answer.status_code == 503


# ------------------------------------------------------------------- jobs


def test_patch_job(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
) -> None:
    job = platform_api.add_job(API_BASIC_USERNAME, arguments={"analysis_variable": "x"})
    results = {
        "workflow_job_id": job,
        "output_bucket": "out",
        "output_key": "r.html",
        "error": None,
    }
    patched = call(
        "PATCH", f"/job/{job}", json={"results": results}, headers=admin
    ).json()
    assert patched["results"] == results
    assert "+" not in patched["finalised_at"] and not patched["finalised_at"].endswith(
        "Z"
    )
    aware = {"results": {}, "finalised_at": "2025-01-01T00:00:00+00:00"}
    answer = call("PATCH", f"/job/{job}", json=aware, headers=admin)
    assert (answer.status_code, answer.json()) == (500, DB_ERROR)
    extended = call(
        "GET", f"/job/{job}", params={"with_extended_results": "1"}, headers=admin
    ).json()
    assert "X-Amz-Signature" in extended["extended_results"]["download_url"]
    assert extended["extended_results"]["error_logs_download_url"] is None
    assert call("GET", f"/job/{job}", headers=admin).json()["extended_results"] is None
    assert (
        call("PATCH", "/job/999", json={"results": {}}, headers=admin).status_code
        == 404
    )


def test_create_job_publishes(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    alice: Headers,
) -> None:
    asset = platform_api.add_asset("a", username=API_BASIC_USERNAME)
    obj = platform_api.add_object(asset)
    body = {
        "job_type": "matrix_profile",
        "arguments": {"uploaded_s3_object_id": obj, "analysis_variable": "power"},
    }
    job = call("POST", "/job", json=body, headers=alice).json()
    message = platform_api.published_messages()[0]
    assert (
        message["workflow_job_id"] == job["id"]
        and message["analysis_variable"] == "power"
    )
    assert message["key"] == platform_api.get_object(obj)["key"]
    assert call("POST", "/job", json=body, headers=alice).status_code == 400


# ----------------------------------------------------------------- faults


def test_fail_next_and_request_log(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
) -> None:
    platform_api.fail_next("/asset", 502, times=2)
    assert call("GET", "/asset", headers=admin).status_code == 502
    assert call("GET", "/asset", headers=admin).status_code == 502
    assert call("GET", "/asset", params={"limit": 5}, headers=admin).ok
    logged = platform_api.requests_to("/asset", "GET")
    assert len(logged) == 3
    assert logged[-1].query == {"limit": ["5"]}
    assert logged[-1].header("authorization") == admin["Authorization"]


def test_delay_and_disconnect(
    platform_api: PlatformApiDouble,
    call: Callable[..., requests.Response],
    admin: Headers,
) -> None:
    platform_api.delay_next("/asset", 1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        call("GET", "/asset", headers=admin, timeout=0.2)
    platform_api.disconnect_next("/asset")
    with pytest.raises(requests.exceptions.ConnectionError):
        call("GET", "/asset", headers=admin)
    platform_api.delay_next("/asset", 1.0, after_processing=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        call("POST", "/asset", json={"name": "late"}, headers=admin, timeout=0.2)
    assert [asset["name"] for asset in platform_api.assets()] == ["late"]


def test_bulk_seeding_is_fast(platform_api: PlatformApiDouble) -> None:
    started = time.monotonic()
    asset = platform_api.add_asset("bulk", access_level="public")
    ids = platform_api.add_objects(asset, BULK_OBJECTS)
    assert time.monotonic() - started < BULK_SEED_BUDGET_S
    assert len(ids) == BULK_OBJECTS and len(set(ids)) == BULK_OBJECTS


def test_uploads_and_download_urls_use_a_real_bucket(s3: S3Resource) -> None:
    client = s3.client()
    report = b"<html>report</html>"
    client.put_object(Bucket=s3.job_outputs_bucket, Key="r.html", Body=report)
    with PlatformApiDouble(s3_client=client, bucket=s3.data_lake_bucket) as api:
        api.add_user(API_ADMIN_USERNAME, API_ADMIN_PASSWORD, admin=True)
        headers = bearer(api.issue_token(API_ADMIN_USERNAME))
        asset = api.add_asset("a", username=API_ADMIN_USERNAME)
        files = {"obj": ("d.csv", b"x,y\n")}
        url = f"{api.url}/asset/{asset}/object"
        key = requests.post(
            url, files=files, headers=headers, timeout=TIMEOUT_S
        ).json()["key"]
        stored = client.get_object(Bucket=s3.data_lake_bucket, Key=key)["Body"].read()
        assert stored == b"x,y\n"
        results = {"output_bucket": s3.job_outputs_bucket, "output_key": "r.html"}
        job = api.add_job(
            API_ADMIN_USERNAME, results=results, finalised_at=api.utcnow()
        )
        read = requests.get(
            f"{api.url}/job/{job}",
            params={"with_extended_results": "true"},
            headers=headers,
            timeout=TIMEOUT_S,
        ).json()
    download = read["extended_results"]["download_url"]
    assert requests.get(download, timeout=TIMEOUT_S).content == report
