import pytest
import requests
import urllib3

from moderate.resources.http import RetryPolicy, send_with_retries

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.02)


def _response(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    return response


def _refused() -> requests.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Connection refused")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))


class Scripted:
    """Plays back a list of outcomes, one per call."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> requests.Response:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _send(script: Scripted, idempotent: bool, sleeps: list[float]) -> requests.Response:
    return send_with_retries(
        script,
        idempotent=idempotent,
        policy=FAST,
        description="GET /x",
        sleep=sleeps.append,
    )


def test_idempotent_call_retries_5xx_then_succeeds():
    sleeps: list[float] = []
    script = Scripted(_response(502), _response(503), _response(200))
    assert _send(script, True, sleeps).status_code == 200
    assert script.calls == 3
    assert len(sleeps) == 2
    assert all(0 < delay <= FAST.max_delay_s for delay in sleeps)


def test_idempotent_call_gives_up_after_max_attempts():
    script = Scripted(*[_response(500)] * FAST.max_attempts)
    assert _send(script, True, []).status_code == 500
    assert script.calls == FAST.max_attempts


def test_post_is_not_repeated_after_a_server_error():
    script = Scripted(_response(500), _response(200))
    assert _send(script, False, []).status_code == 500
    assert script.calls == 1


def test_post_is_not_repeated_after_a_read_timeout():
    script = Scripted(requests.exceptions.ReadTimeout("slow"), _response(200))
    with pytest.raises(requests.exceptions.ReadTimeout):
        _send(script, False, [])
    assert script.calls == 1


def test_request_that_never_left_is_retried_even_for_post():
    script = Scripted(
        _refused(), requests.exceptions.ConnectTimeout("t"), _response(201)
    )
    assert _send(script, False, []).status_code == 201
    assert script.calls == 3


def test_read_timeout_is_retried_for_idempotent_calls():
    script = Scripted(requests.exceptions.ReadTimeout("slow"), _response(200))
    assert _send(script, True, []).status_code == 200


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(max_attempts=10, base_delay_s=1.0, max_delay_s=8.0)
    ceilings = [policy.delay(n) for n in range(1, 8)]
    assert ceilings[0] <= 1.0
    assert all(delay <= 8.0 for delay in ceilings)
    assert ceilings[5] >= 4.0
