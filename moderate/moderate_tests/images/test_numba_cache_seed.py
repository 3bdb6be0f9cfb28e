"""Seeding the Job's writable numba cache folder from the image's cache."""

from moderate.matrix_profile.worker.numba_cache import (
    CACHE_DIR_ENV,
    SEED_ENV,
    seed_cache,
)


def _seed(tmp_path):
    seed = tmp_path / "seed" / "stumpy_abc"
    seed.mkdir(parents=True)
    (seed / "stump._stump-246.py311.nbi").write_bytes(b"index")
    (seed / "stump._stump-246.py311.1.nbc").write_bytes(b"data")
    return tmp_path / "seed"


def test_cache_files_are_copied_into_the_cache_folder(tmp_path):
    seed = _seed(tmp_path)
    target = tmp_path / "scratch" / "numba"
    environ = {SEED_ENV: str(seed), CACHE_DIR_ENV: str(target)}

    assert seed_cache(environ) == 2
    assert (target / "stumpy_abc" / "stump._stump-246.py311.nbi").read_bytes() == (
        b"index"
    )


def test_files_already_in_the_cache_folder_are_kept(tmp_path):
    seed = _seed(tmp_path)
    target = tmp_path / "numba"
    newer = target / "stumpy_abc" / "stump._stump-246.py311.nbi"
    newer.parent.mkdir(parents=True)
    newer.write_bytes(b"newer index")

    copied = seed_cache({SEED_ENV: str(seed), CACHE_DIR_ENV: str(target)})

    assert copied == 1
    assert newer.read_bytes() == b"newer index"


def test_nothing_happens_without_both_folders(tmp_path):
    seed = _seed(tmp_path)
    assert seed_cache({SEED_ENV: str(seed)}) == 0
    assert seed_cache({SEED_ENV: "", CACHE_DIR_ENV: str(tmp_path / "n")}) == 0
    assert not (tmp_path / "n").exists()
