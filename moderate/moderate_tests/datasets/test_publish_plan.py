import pytest

from moderate.datasets.naming import DatasetFormat, series_id
from moderate.datasets.publish import ObjectLimitError, PublishUnit, plan_uploads
from moderate.datasets.staging import StagedObject

COMMIT = "c" * 40
OLD_COMMIT = "b" * 40
OWNED = "workflows-assets/"


def unit(number: int) -> PublishUnit:
    name = f"data/{number}.csv"
    unit = PublishUnit(
        source="src",
        dataset=name,
        data_format=DatasetFormat.PARQUET,
        staged=StagedObject(key=f"k/{number}", sha256=f"{number:064x}", size=1),
        source_path=name,
    )
    assert unit.series_id == series_id("src", name, DatasetFormat.PARQUET)
    return unit


def existing(object_id: int, of: PublishUnit | None, commit: str) -> dict:
    return {
        "id": object_id,
        "key": f"workflows-assets/{object_id}.parquet",
        "series_id": of.series_id if of else f"legacy-{object_id}",
        "tags": {"commit_sha": commit},
        "sha256_hash": of.staged.sha256 if of else "0" * 64,
    }


def test_current_versions_are_skipped_and_superseded_ones_deleted_after() -> None:
    units = [unit(1), unit(2)]
    objects = [existing(10, units[0], OLD_COMMIT), existing(11, units[1], COMMIT)]

    plan = plan_uploads(units, objects, COMMIT, limit=100, owned_key_prefix=OWNED)

    assert [u.dataset for u in plan.uploads] == ["data/1.csv"]
    assert [item["id"] for _, item in plan.current] == [11]
    assert plan.delete_before == ()
    assert plan.delete_after == (10,)
    assert plan.final_count == 2


def test_a_changed_hash_at_the_same_commit_is_uploaded_again() -> None:
    units = [unit(1)]
    stale = existing(10, units[0], COMMIT) | {"sha256_hash": "f" * 64}
    plan = plan_uploads(units, [stale], COMMIT, limit=100, owned_key_prefix=OWNED)
    assert len(plan.uploads) == 1
    assert plan.delete_after == (10,)


def test_room_is_made_before_uploading_oldest_orphans_first() -> None:
    units = [unit(number) for number in range(3)]
    orphans = [existing(100 + n, None, OLD_COMMIT) for n in range(3)]
    old = [existing(200 + n, units[n], OLD_COMMIT) for n in range(3)]

    plan = plan_uploads(
        units, [*orphans, *old], COMMIT, limit=6, owned_key_prefix=OWNED
    )

    assert plan.delete_before == (100, 101, 102)
    assert plan.delete_after == (200, 201, 202)
    assert plan.final_count == 3


def test_a_full_asset_of_superseded_versions_is_pruned_first() -> None:
    units = [unit(number) for number in range(2)]
    old = [existing(300 + n, units[n % 2], OLD_COMMIT) for n in range(4)]
    plan = plan_uploads(units, old, COMMIT, limit=4, owned_key_prefix=OWNED)
    assert plan.delete_before == (300, 301)
    assert plan.delete_after == (302, 303)
    assert plan.final_count == 2


def test_a_source_larger_than_the_limit_fails_before_anything() -> None:
    with pytest.raises(ObjectLimitError, match=r"needs 5 objects .* at most 4"):
        plan_uploads(
            [unit(n) for n in range(5)], [], COMMIT, limit=4, owned_key_prefix=OWNED
        )


def _uploaded_by(user: str, object_id: int) -> dict:
    return existing(object_id, None, OLD_COMMIT) | {
        "key": f"{user}-assets/{object_id}.csv"
    }


def test_other_accounts_objects_are_never_deleted() -> None:
    units = [unit(number) for number in range(2)]
    foreign = [_uploaded_by("alice", 400 + n) for n in range(2)]
    orphans = [existing(500 + n, None, OLD_COMMIT) for n in range(2)]

    plan = plan_uploads(
        units, [*foreign, *orphans], COMMIT, limit=4, owned_key_prefix=OWNED
    )

    assert plan.delete_before == (500, 501)
    assert not {400, 401} & {*plan.delete_before, *plan.delete_after}
    assert plan.final_count == 4


def test_an_asset_full_of_other_accounts_objects_fails_before_anything() -> None:
    foreign = [_uploaded_by("alice", 600 + n) for n in range(4)]
    with pytest.raises(ObjectLimitError, match="4 of them uploaded by other accounts"):
        plan_uploads([unit(1)], foreign, COMMIT, limit=4, owned_key_prefix=OWNED)
