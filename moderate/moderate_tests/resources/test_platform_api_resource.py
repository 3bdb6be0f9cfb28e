import json
import time

import pytest
import urllib3.util.retry

from moderate.doctor.checks import format_reports
from moderate.resources import PlatformApiResource
from moderate.resources.platform_api import PlatformApiError, UploadTooLongError
from moderate.support.http import MAX_RETRY_AFTER_S
from moderate_tests.doubles import (
    API_ADMIN_PASSWORD,
    API_ADMIN_USERNAME,
    API_BASIC_PASSWORD,
    API_BASIC_USERNAME,
)
from moderate_tests.doubles.platform_api import PlatformApiDouble
from moderate_tests.support.secrets import resource_with_secrets

TOKEN_PATH = "/api/token"


def _resource(
    double: PlatformApiDouble, password: str = API_ADMIN_PASSWORD, **overrides
) -> PlatformApiResource:
    settings = {
        "base_url": double.url,
        "username": API_ADMIN_USERNAME,
        "retry_base_delay_s": 0.01,
        **overrides,
    }
    return resource_with_secrets(
        PlatformApiResource, {"password": password}, **settings
    )


def test_password_comes_from_the_environment(platform_api, monkeypatch):
    monkeypatch.setenv("API_PASSWORD", API_ADMIN_PASSWORD)
    resource = PlatformApiResource(
        base_url=platform_api.url, username=API_ADMIN_USERNAME
    )
    assert resource.client().get_json("/asset") == []
    with pytest.raises(TypeError, match="set API_PASSWORD in the environment"):
        PlatformApiResource(password="typed-into-run-config")


def test_token_is_cached_across_calls(platform_api):
    client = _resource(platform_api).client()
    for _ in range(5):
        assert client.get_json("/asset", {"limit": 1}) == []
    assert len(platform_api.requests_to(TOKEN_PATH)) == 1
    sent = {r.headers["Authorization"] for r in platform_api.requests_to("/asset")}
    assert len(sent) == 1


def test_token_is_refreshed_before_expires_in():
    double = PlatformApiDouble(token_expires_in=2)
    double.add_user(API_ADMIN_USERNAME, API_ADMIN_PASSWORD, admin=True)
    with double:
        client = _resource(double).client()
        client.get_json("/asset")
        client.get_json("/asset")
        assert len(double.requests_to(TOKEN_PATH)) == 1
        time.sleep(1.1)
        client.get_json("/asset")
        assert len(double.requests_to(TOKEN_PATH)) == 2


def test_unauthorized_call_fetches_a_new_token_once_and_retries(platform_api):
    client = _resource(platform_api).client()
    client.get_json("/asset")
    platform_api.revoke_all_tokens()
    assert client.get_json("/asset") == []
    assert len(platform_api.requests_to(TOKEN_PATH)) == 2
    assert len(platform_api.requests_to("/asset", "GET")) == 3


def test_persistent_unauthorized_is_raised_after_one_refresh(platform_api):
    client = _resource(platform_api).client()
    client.get_json("/asset")
    platform_api.fail_next("/asset", 401, times=5, body={"detail": "Signature expired"})
    with pytest.raises(PlatformApiError) as error:
        client.get_json("/asset")
    assert error.value.status == 401
    assert len(platform_api.requests_to("/asset", "GET")) == 3


def test_bad_credentials_fail_clearly_without_leaking_the_password(platform_api):
    client = _resource(platform_api, password="wrong-password").client()
    with pytest.raises(PlatformApiError) as error:
        client.get_json("/asset")
    assert error.value.status == 401
    assert "wrong-password" not in str(error.value)


def test_gateway_errors_are_retried_with_backoff(platform_api):
    client = _resource(platform_api).client()
    platform_api.fail_next("/asset", 502, times=2, method="GET")
    assert client.get_json("/asset") == []
    assert len(platform_api.requests_to("/asset", "GET")) == 3


def test_retries_are_bounded(platform_api):
    client = _resource(platform_api, max_attempts=3).client()
    platform_api.fail_next("/asset", 503, times=10, method="GET")
    with pytest.raises(PlatformApiError) as error:
        client.get_json("/asset")
    assert error.value.status == 503
    assert len(platform_api.requests_to("/asset", "GET")) == 3


def test_post_is_not_repeated_after_a_server_error(platform_api):
    client = _resource(platform_api).client()
    platform_api.fail_next("/asset", 500, method="POST")
    with pytest.raises(PlatformApiError):
        client.post_json("/asset", {"name": "x"})
    assert len(platform_api.requests_to("/asset", "POST")) == 1
    assert platform_api.assets() == []


def test_stalled_read_times_out_and_is_retried(platform_api):
    client = _resource(platform_api, read_timeout_s=0.3).client()
    client.get_json("/asset")
    platform_api.delay_next("/asset", 1.0, method="GET")
    started = time.monotonic()
    assert client.get_json("/asset") == []
    assert time.monotonic() - started < 5


def test_iter_list_pages_with_sort_until_a_short_page(platform_api):
    asset_id = platform_api.add_asset("lake", username=API_ADMIN_USERNAME)
    ids = platform_api.add_objects(asset_id, 250)
    client = _resource(platform_api).client()
    pages = list(client.iter_list("/asset/object", filters=[["proof_id", "eq", None]]))
    assert [len(page) for page in pages] == [100, 100, 50]
    seen = [item["id"] for page in pages for item in page]
    assert seen == sorted(ids)
    for request in platform_api.requests_to("/asset/object"):
        assert request.query["limit"] == ["100"]
        assert request.query["sorts"] == ['[["id", "asc"]]']


def test_page_size_is_capped_at_the_api_limit(platform_api):
    client = _resource(platform_api).client()
    with pytest.raises(ValueError, match=r"1\.\.100"):
        next(client.iter_list("/asset", page_size=101))


def test_health_check_uses_ping_and_an_admin_only_read(platform_api):
    report = _resource(platform_api).health_check()
    assert report.healthy, report.detail
    assert platform_api.requests_to("/ping/public")
    assert platform_api.requests_to("/asset/object", "GET")


def test_doctor_reports_a_basic_access_account_as_not_usable(platform_api):
    resource = _resource(
        platform_api, username=API_BASIC_USERNAME, password=API_BASIC_PASSWORD
    )
    report = resource.health_check()
    assert (report.reachable, report.usable, report.healthy) == (True, False, False)
    assert "apisix:api_admin" in report.detail and "403" in report.detail
    assert "not usable" in format_reports([report])


def test_doctor_reports_an_account_without_any_role_as_not_usable(platform_api):
    platform_api.add_user("norole", "pw", api_access=False)
    report = _resource(platform_api, username="norole", password="pw").health_check()
    assert report.usable is False
    assert "apisix:api_admin" in report.detail and "401" in report.detail


@pytest.mark.parametrize(
    ("path", "filters"),
    [
        ("/asset/object", [["no_such_field", "eq", "x"]]),
        ("/asset/object", [["key", "like", "x"]]),
        ("/asset", [["name", "eq", "123"]]),
    ],
)
def test_bad_filters_are_permanent_and_not_retried(platform_api, path, filters):
    client = _resource(platform_api).client()
    with pytest.raises(PlatformApiError) as error:
        client.get_json(path, {"filters": json.dumps(filters)})
    assert (error.value.status, error.value.permanent) == (500, True)
    assert len(platform_api.requests_to(path, "GET")) == 1


def test_a_500_without_filters_is_retried_and_transient(platform_api):
    client = _resource(platform_api, max_attempts=2).client()
    platform_api.fail_next("/asset", 500, times=5, method="GET")
    with pytest.raises(PlatformApiError) as error:
        client.get_json("/asset")
    assert (error.value.status, error.value.permanent) == (500, False)
    assert len(platform_api.requests_to("/asset", "GET")) == 2


@pytest.fixture
def pauses(monkeypatch):
    """Records urllib3's retry pauses instead of sleeping."""
    recorded: list[float] = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", recorded.append)
    return recorded


def test_retry_after_is_honoured(platform_api, pauses):
    client = _resource(platform_api).client()
    platform_api.fail_next("/asset", 429, times=2, method="GET", retry_after="3")
    assert client.get_json("/asset") == []
    assert pauses == [3.0, 3.0]


def test_retry_after_is_capped(platform_api, pauses):
    client = _resource(platform_api).client()
    platform_api.fail_next("/asset", 503, times=1, method="GET", retry_after="120")
    assert client.get_json("/asset") == []
    assert pauses == [MAX_RETRY_AFTER_S]


def test_username_is_lower_cased_like_the_token_s_preferred_username(platform_api):
    client = _resource(platform_api, username="Workflows").client()
    assert client.username == "workflows"


def _upload(client, asset_id: int, size: int):
    body = MemoryBody(b"x" * size)
    return client.request(
        "POST",
        f"/asset/{asset_id}/object",
        body=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        idempotent=False,
    )


class MemoryBody:
    """A rewindable body with a length, like the streamed multipart body."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0

    def __len__(self) -> int:
        return len(self._data)

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._position + size
        chunk = self._data[self._position : end]
        self._position += len(chunk)
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        self._position = offset
        return offset

    def tell(self) -> int:
        return self._position


def test_upload_that_cannot_fit_a_token_lifetime_fails_before_sending(platform_api):
    asset_id = platform_api.add_asset("lake", username=API_ADMIN_USERNAME)
    client = _resource(platform_api, min_upload_rate_bytes_per_s=1).client()
    with pytest.raises(UploadTooLongError, match="access token's lifetime of 300 s"):
        _upload(client, asset_id, 400)
    assert platform_api.requests_to(f"/asset/{asset_id}/object") == []


def test_upload_gets_a_token_that_outlives_it():
    double = PlatformApiDouble(token_expires_in=4)
    double.add_user(API_ADMIN_USERNAME, API_ADMIN_PASSWORD, admin=True)
    with double:
        asset_id = double.add_asset("lake", username=API_ADMIN_USERNAME)
        client = _resource(double, min_upload_rate_bytes_per_s=100).client()
        client.get_json("/asset")
        time.sleep(1.5)
        with pytest.raises(PlatformApiError):
            _upload(client, asset_id, 100)
        assert len(double.requests_to(TOKEN_PATH)) == 2
        (upload,) = double.requests_to(f"/asset/{asset_id}/object")
        first = double.requests_to("/asset", "GET")[0]
        assert first.headers["Authorization"] != upload.headers["Authorization"]
