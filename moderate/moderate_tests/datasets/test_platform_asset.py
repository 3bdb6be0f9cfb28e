import logging
from pathlib import Path
from typing import Any

import pytest

from moderate.datasets import publish as platform
from moderate.datasets.naming import legacy_platform_asset_uuid, platform_asset_uuid
from moderate.datasets.publish import (
    AssetOrigin,
    RewindableMultipartEncoder,
    ensure_platform_asset,
)
from moderate.resources import PlatformApiResource
from moderate_tests.doubles.platform_api import PlatformApiDouble

LOG = logging.getLogger(__name__)
NAME = "genome-project"


def ensure(api_resource: PlatformApiResource, base_url: str | None, adopt: bool = True):
    return ensure_platform_asset(
        api_resource.client(), NAME, "test source", base_url, adopt, LOG
    )


def test_creates_once_then_finds_by_uuid_whatever_the_api_url(
    platform_api: PlatformApiDouble, api_resource: PlatformApiResource
) -> None:
    created = ensure(api_resource, platform_api.url)
    found = ensure(api_resource, "https://another-gateway.example")
    assert created.origin == AssetOrigin.CREATED
    assert found.origin == AssetOrigin.FOUND
    assert created.id == found.id and found.uuid == platform_asset_uuid(NAME)
    assert len(platform_api.assets()) == 1


def test_a_409_on_creation_is_answered_by_reading_again(
    platform_api: PlatformApiDouble,
    api_resource: PlatformApiResource,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asset_id = platform_api.add_asset(
        NAME, uuid=platform_asset_uuid(NAME), access_level="public"
    )
    real_find = platform.find_asset_by_uuid
    calls: list[str] = []

    def racing_find(client: Any, asset_uuid: str) -> dict | None:
        calls.append(asset_uuid)
        return None if len(calls) == 1 else real_find(client, asset_uuid)

    monkeypatch.setattr(platform, "find_asset_by_uuid", racing_find)
    asset = ensure(api_resource, None, adopt=False)
    assert asset.id == asset_id and asset.origin == AssetOrigin.FOUND
    assert len(platform_api.requests_to("/asset", "POST")) == 1
    assert len(platform_api.assets()) == 1


def test_legacy_assets_are_adopted_by_url_uuid_then_by_ownerless_name(
    platform_api: PlatformApiDouble, api_resource: PlatformApiResource
) -> None:
    platform_api.add_asset(NAME, username="alice", access_level="public")
    by_name = platform_api.add_asset(NAME, access_level="public")
    assert ensure(api_resource, "https://gone.example").id == by_name

    legacy = platform_api.add_asset(
        NAME,
        uuid=legacy_platform_asset_uuid(platform_api.url + "/", NAME),
        access_level="public",
    )
    adopted = ensure(api_resource, platform_api.url)
    assert adopted.id == legacy and adopted.origin == AssetOrigin.LEGACY_UUID


def test_without_adoption_a_new_asset_is_created(
    platform_api: PlatformApiDouble, api_resource: PlatformApiResource
) -> None:
    platform_api.add_asset(NAME, access_level="public")
    asset = ensure(api_resource, platform_api.url, adopt=False)
    assert asset.origin == AssetOrigin.CREATED
    assert len(platform_api.assets()) == 2


def test_multipart_body_streams_and_rewinds(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 5000
    path = tmp_path / "blob.bin"
    path.write_bytes(payload)
    with path.open("rb") as handle:
        body = RewindableMultipartEncoder(
            {
                "series_id": "s-1",
                "tags": '{"a": 1}',
                "obj": ('x".csv', handle, "text/csv"),
            }
        )
        first = body.read(1000)
        whole = first + body.read()
        assert len(whole) == body.len == len(body)
        assert payload in whole and b'filename="x%22.csv"' in whole
        assert body.seek(0) == 0
        assert body.read() == whole
        with pytest.raises(OSError, match="only be rewound"):
            body.seek(10)


def test_upload_streams_with_content_length_and_survives_a_token_refresh(
    platform_api: PlatformApiDouble,
    api_resource: PlatformApiResource,
    tmp_path: Path,
) -> None:
    asset = ensure(api_resource, None)
    path = tmp_path / "data.csv"
    path.write_bytes(b"timestamp,a\r\n2016-01-01 00:00:00,1\r\n" * 1000)
    client = api_resource.client()
    client.get_json("/asset", {"limit": 1})
    platform_api.revoke_all_tokens()
    created = platform.upload_object(
        client, asset.id, path, "data.csv", {"series_id": "s", "tags": "{}"}
    )
    assert platform_api.uploaded_bytes(created["key"]) == path.read_bytes()
    attempts = platform_api.requests_to(f"/asset/{asset.id}/object", "POST")
    assert len(attempts) == 2
    assert attempts[0].body == attempts[1].body
    assert attempts[1].header("Content-Length") == str(len(attempts[1].body))
    assert attempts[1].header("Transfer-Encoding") is None


def test_deleting_an_object_twice_is_not_an_error(
    platform_api: PlatformApiDouble, api_resource: PlatformApiResource
) -> None:
    asset = ensure(api_resource, None)
    (object_id,) = platform_api.add_objects(asset.id, 1)
    client = api_resource.client()
    assert platform.delete_object(client, asset.id, object_id) is True
    assert platform.delete_object(client, asset.id, object_id) is False
    assert platform_api.objects(asset.id) == []
