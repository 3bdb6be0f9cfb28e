import json

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


def _patch(om_server, path, operations):
    return requests.patch(
        f"{om_server.host_port}{path}",
        data=json.dumps(operations),
        headers={
            "Authorization": f"Bearer {om_server.double.token}",
            "Content-Type": "application/json-patch+json",
        },
        timeout=TIMEOUT,
    )


def _table(om_server, name="t"):
    _put(om_server, "/v1/services/databaseServices", {"name": "svc"})
    _put(om_server, "/v1/databases", {"name": "db", "service": "svc"})
    _put(om_server, "/v1/databaseSchemas", {"name": "s", "database": "svc.db"})
    return _put(
        om_server,
        "/v1/tables",
        {"name": name, "databaseSchema": "svc.db.s", "columns": [{"name": "id"}]},
    ).json()


def test_json_patch_is_applied_and_a_bad_one_refused(om_server):
    table = _table(om_server)
    constraint = {"constraintType": "FOREIGN_KEY", "columns": ["id"]}
    patched = _patch(
        om_server,
        f"/v1/tables/{table['id']}",
        [{"op": "add", "path": "/tableConstraints", "value": [constraint]}],
    )
    assert patched.status_code == 200
    stored = _get(om_server, "/v1/tables/name/svc.db.s.t").json()
    assert stored["tableConstraints"] == [constraint]
    assert stored["version"] > table["version"]
    refused = _patch(
        om_server,
        f"/v1/tables/{table['id']}",
        [{"op": "remove", "path": "/nothing"}],
    )
    assert refused.status_code == 400


def test_listings_page_with_limit_and_after(om_server):
    for index in range(25):
        _table(om_server, name=f"t{index:02d}")
    first = _get(om_server, "/v1/tables").json()
    assert len(first["data"]) == 10  # the server's default limit
    assert first["paging"]["total"] == 25
    names, after = [], None
    while True:
        query = "?limit=7" + (f"&after={after}" if after else "")
        page = _get(om_server, f"/v1/tables{query}").json()
        names += [table["name"] for table in page["data"]]
        after = page["paging"].get("after")
        if not after:
            break
    assert names == [f"t{index:02d}" for index in range(25)]


def test_soft_delete_needs_recursive_and_hides_children(om_server):
    _table(om_server)
    service = _get(om_server, "/v1/services/databaseServices/name/svc").json()
    path = f"{om_server.host_port}/v1/services/databaseServices/{service['id']}"
    headers = {"Authorization": f"Bearer {om_server.double.token}"}
    assert requests.delete(path, headers=headers, timeout=TIMEOUT).status_code == 400
    deleted = requests.delete(
        f"{path}?recursive=true&hardDelete=false", headers=headers, timeout=TIMEOUT
    )
    assert deleted.status_code == 200
    assert _get(om_server, "/v1/tables/name/svc.db.s.t").status_code == 404
    hidden = _get(om_server, "/v1/tables/name/svc.db.s.t?include=all").json()
    assert hidden["deleted"] is True


def test_lineage_edges_are_added_and_read_back(om_server):
    source = _table(om_server, "source")
    target = _table(om_server, "target")
    edge = {
        "edge": {
            "fromEntity": {"id": source["id"], "type": "table"},
            "toEntity": {"id": target["id"], "type": "table"},
            "lineageDetails": {"description": "copy"},
        }
    }
    assert _put(om_server, "/v1/lineage", edge).status_code == 200
    graph = _get(
        om_server, "/v1/lineage/table/name/svc.db.s.target?upstreamDepth=1"
    ).json()
    assert [e["fromEntity"] for e in graph["upstreamEdges"]] == [source["id"]]
    assert graph["nodes"][0]["fullyQualifiedName"] == "svc.db.s.source"
    found = _get(om_server, f"/v1/lineage/getLineageEdge/{source['id']}/{target['id']}")
    assert found.json()["edge"]["lineageDetails"] == {"description": "copy"}
    unknown = dict(edge["edge"], toEntity={"id": "nope", "type": "table"})
    assert _put(om_server, "/v1/lineage", {"edge": unknown}).status_code == 404


def test_test_cases_and_results(om_server):
    _table(om_server)
    _put(
        om_server,
        "/v1/dataQuality/testDefinitions",
        {"name": "check", "entityType": "TABLE"},
    )
    suite = _put(
        om_server,
        "/v1/dataQuality/testSuites/executable",
        {"name": "svc.db.s.t.testSuite", "basicEntityReference": "svc.db.s.t"},
    )
    assert suite.status_code == 201
    case = _put(
        om_server,
        "/v1/dataQuality/testCases",
        {
            "name": "c",
            "entityLink": "<#E::table::svc.db.s.t>",
            "testDefinition": "check",
        },
    ).json()
    assert case["fullyQualifiedName"] == "svc.db.s.t.c"
    result = {"timestamp": 1, "testCaseStatus": "Success"}
    posted = requests.post(
        f"{om_server.host_port}/v1/dataQuality/testCases/testCaseResults/svc.db.s.t.c",
        json=result,
        headers={"Authorization": f"Bearer {om_server.double.token}"},
        timeout=TIMEOUT,
    )
    assert posted.status_code == 200
    assert om_server.double.test_case_results["svc.db.s.t.c"] == [result]
