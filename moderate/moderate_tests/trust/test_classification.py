"""Task error classification (CONTRACT §2) and the settings' guards."""

import pytest

from moderate.state import utc_now
from moderate.trust.sensors import ObjectScanCursor, UserScanCursor
from moderate.trust.settings import TrustSettings
from moderate.trust.tasks import Outcome, blocked_owner, classify_task_error


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        ("ValueError('User alice already has a DID')", Outcome.DONE),
        ("ValueError('Object 3 already has a proof')", Outcome.DONE),
        ("ValueError('DID seems to have been created in the meantime')", Outcome.DONE),
        (
            'ValueError("User bob does not have a DID and thus cannot be a proof '
            'owner")',
            Outcome.BLOCKED_OWNER,
        ),
        ("ValueError('Object 9 has no hash')", Outcome.PERMANENT),
        ("ValueError('Object 12 not found')", Outcome.PERMANENT),
        ("HTTPStatusError('Server error 502 Bad Gateway')", Outcome.TRANSIENT),
        (
            "HTTPStatusError(\"Client error '404 Not Found' for url "
            "'http://trust:8081/api/proofs'\")",
            Outcome.TRANSIENT,
        ),
        ("ConnectError('[Errno 111] Connection refused')", Outcome.TRANSIENT),
        ("ReadTimeout('')", Outcome.TRANSIENT),
        ("RuntimeError('something new')", Outcome.TRANSIENT),
    ],
)
def test_task_errors_are_classified(error: str, outcome: Outcome) -> None:
    assert classify_task_error(error) is outcome


def test_blocked_owner_is_read_from_the_error() -> None:
    error = 'ValueError("User bob.smith does not have a DID and thus cannot be a '
    error += 'proof owner")'
    assert blocked_owner(error) == "bob.smith"
    assert blocked_owner("ReadTimeout('')") is None


@pytest.mark.parametrize(
    "changes",
    [
        {"user_page_size": 101},
        {"object_page_size": 0},
        {"max_runs_per_tick": 0},
        {"max_runs_in_flight": 0},
        {"batch_size": 0},
        {"max_object_pages_per_tick": 0},
        {"pending_timeout": 60},  # a misspelt or old (pre-seconds) name
    ],
)
def test_settings_reject_limits_the_services_refuse(changes: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(changes))):
        TrustSettings(**changes)


def test_cursors_round_trip() -> None:
    cursor = UserScanCursor(
        offset=200, pass_count=5, known_count=4, last_pass_started_at=utc_now()
    )
    assert UserScanCursor.read(cursor.model_dump_json())[0] == cursor
    assert (
        ObjectScanCursor.read(ObjectScanCursor(after_id=42).model_dump_json())[
            0
        ].after_id
        == 42
    )
    assert ObjectScanCursor.read(None) == (ObjectScanCursor(), None)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '{"unknown": 1}',
        "[1, 2]",
        '"offset"',
        '{"offset": "12"}',
        '{"offset": -1}',
        '{"offset": true}',
        '{"offset": 1e400}',
        '{"last_pass_started_at": "yesterday"}',
        '{"last_pass_started_at": "2026-01-01T00:00:00"}',
        '{"known_count": 99999999999999999999999}',
    ],
)
def test_unreadable_user_cursors_reset_with_a_reason(raw: str) -> None:
    cursor, reason = UserScanCursor.read(raw)
    assert cursor == UserScanCursor()
    assert reason is not None and reason.startswith("unreadable UserScanCursor")
    assert "\n" not in reason


@pytest.mark.parametrize("raw", ["not json", '{"after_id": -5}', '{"after_id": null}'])
def test_unreadable_object_cursors_reset_with_a_reason(raw: str) -> None:
    cursor, reason = ObjectScanCursor.read(raw)
    assert cursor == ObjectScanCursor() and reason
