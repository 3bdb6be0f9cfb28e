import time

import pytest

from moderate.resources import PlatformApiResource
from moderate.resources.platform_api import PlatformApiError
from moderate_tests.doubles import API_ADMIN_PASSWORD, API_ADMIN_USERNAME
from moderate_tests.doubles.platform_api import PlatformApiDouble

TOKEN_PATH = "/api/token"


def _resource(double: PlatformApiDouble, **overrides) -> PlatformApiResource:
    settings = {
        "base_url": double.url,
        "username": API_ADMIN_USERNAME,
        "password": API_ADMIN_PASSWORD,
        "retry_base_delay_s": 0.01,
        **overrides,
    }
    return PlatformApiResource(**settings)


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


def test_health_check_uses_ping_and_a_token(platform_api):
    report = _resource(platform_api).health_check()
    assert report.healthy, report.detail
    assert platform_api.requests_to("/ping/public")
