"""Task error classification (CONTRACT §2) and the settings' guards."""

import pytest

from moderate.trust.scans import ObjectScanCursor, UserScanCursor
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
        {"max_did_runs_per_tick": 0},
        {"max_object_pages_per_tick": 0},
    ],
)
def test_settings_reject_limits_the_services_refuse(changes: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(changes))):
        TrustSettings(**changes)


def test_cursors_round_trip_and_tolerate_garbage() -> None:
    cursor = UserScanCursor(offset=200, pass_count=5, known_count=4)
    assert UserScanCursor.parse(cursor.dump()) == cursor
    assert UserScanCursor.parse("not json") == UserScanCursor()
    assert UserScanCursor.parse('{"unknown": 1}') == UserScanCursor()
    assert ObjectScanCursor.parse(ObjectScanCursor(after_id=42).dump()).after_id == 42
    assert ObjectScanCursor.parse(None).after_id == 0
