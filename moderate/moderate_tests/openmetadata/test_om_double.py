import requests

TIMEOUT = (5, 10)


def _get(om_server, path, token=None):
    token = token or om_server.double.token
    return requests.get(
        f"{om_server.host_port}{path}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


def _put(om_server, path, body):
    return requests.put(
        f"{om_server.host_port}{path}",
        json=body,
        headers={"Authorization": f"Bearer {om_server.double.token}"},
        timeout=TIMEOUT,
    )


def test_version_and_auth(om_server):
    assert _get(om_server, "/v1/system/version").json()["version"] == "2.0.6"
    refused = _get(om_server, "/v1/system/version", token="wrong")
    assert refused.status_code == 401


def test_unknown_entities_are_404_and_put_creates_then_updates(om_server):
    missing = _get(om_server, "/v1/services/databaseServices/name/svc")
    assert missing.status_code == 404
    body = {"name": "svc", "serviceType": "Postgres", "connection": {"config": {}}}
    created = _put(om_server, "/v1/services/databaseServices", body)
    assert created.status_code == 201
    updated = _put(om_server, "/v1/services/databaseServices", body)
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["version"] > created.json()["version"]
    found = _get(om_server, "/v1/services/databaseServices/name/svc").json()
    assert found["fullyQualifiedName"] == "svc"


def test_children_get_qualified_names_and_need_their_parent(om_server):
    _put(
        om_server,
        "/v1/services/databaseServices",
        {"name": "svc", "serviceType": "Datalake"},
    )
    orphan = _put(om_server, "/v1/databases", {"name": "db", "service": "nope"})
    assert orphan.status_code == 404
    _put(om_server, "/v1/databases", {"name": "default", "service": "svc"})
    _put(
        om_server, "/v1/databaseSchemas", {"name": "bucket", "database": "svc.default"}
    )
    table = _put(
        om_server,
        "/v1/tables",
        {
            "name": "alice-assets/x.csv",
            "databaseSchema": "svc.default.bucket",
            "columns": [],
        },
    ).json()
    assert table["fullyQualifiedName"] == 'svc.default.bucket."alice-assets/x.csv"'
    assert table["service"]["name"] == "svc"
    listed = _get(om_server, "/v1/tables?databaseSchema=svc.default.bucket").json()
    assert [t["name"] for t in listed["data"]] == ["alice-assets/x.csv"]
    hits = _get(
        om_server,
        "/v1/search/fieldQuery?fieldName=fullyQualifiedName&index=table_search_index"
        '&fieldValue=svc.default.bucket."alice-assets/x.csv"',
    ).json()
    assert hits["hits"]["total"]["value"] == 1


def test_unknown_pipeline_run_status_is_empty(om_server):
    _put(
        om_server,
        "/v1/services/databaseServices",
        {"name": "svc", "serviceType": "Postgres"},
    )
    _put(
        om_server,
        "/v1/services/ingestionPipelines",
        {"name": "metadata", "service": {"id": "x", "fullyQualifiedName": "svc"}},
    )
    status = _get(
        om_server, "/v1/services/ingestionPipelines/svc.metadata/pipelineStatus/r1"
    )
    assert status.status_code == 204
    stored = _put(
        om_server,
        "/v1/services/ingestionPipelines/svc.metadata/pipelineStatus",
        {"runId": "r1", "pipelineState": "running"},
    )
    assert stored.status_code == 200
    again = _get(
        om_server, "/v1/services/ingestionPipelines/svc.metadata/pipelineStatus/r1"
    )
    assert again.json()["pipelineState"] == "running"
