from pathlib import Path

import pytest

from moderate.datasets.config import GENOME_PROJECT_SOURCE, SOURCE_DEFAULTS
from moderate.datasets.git import (
    GitFetchError,
    is_lfs_pointer,
    shallow_checkout,
)
from moderate_tests.datasets.repos import SourceRepo, meter_csv, run_git

TIMEOUT_S = 120
SELECTED = (
    "data/metadata/metadata.csv",
    "data/meters/cleaned/electricity_cleaned.csv",
    "data/meters/cleaned/gas_cleaned.csv",
    "data/meters/cleaned/water_cleaned.csv",
    "data/weather/weather.csv",
)


def test_lfs_content_is_fetched_for_the_selected_files_only(
    genome_repo: SourceRepo,
) -> None:
    with shallow_checkout(genome_repo.url, "master", TIMEOUT_S) as checkout:
        selection = checkout.select(
            SOURCE_DEFAULTS[GENOME_PROJECT_SOURCE].globs, TIMEOUT_S
        )
        assert selection.paths == SELECTED
        assert all(is_lfs_pointer(checkout.root / path) for path in SELECTED)

        checkout.pull_lfs(selection.paths, TIMEOUT_S)

        assert not any(is_lfs_pointer(checkout.root / path) for path in SELECTED)
        assert is_lfs_pointer(checkout.root / "data/meters/raw/electricity.csv")
        text = (checkout.root / "data/meters/cleaned/gas_cleaned.csv").read_text()
        assert text.startswith("timestamp,Panther_lodging_Dean")
        local_objects = list((checkout.root / ".git/lfs/objects").rglob("*"))
        assert len([p for p in local_objects if p.is_file()]) == len(SELECTED)
        assert (
            checkout.commit_sha
            == run_git(["rev-parse", "HEAD"], genome_repo.work).strip()
        )


GLOBAL_LFS_FILTERS = """[filter "lfs"]
\tclean = git-lfs clean -- %f
\tsmudge = git-lfs smudge -- %f
\tprocess = git-lfs filter-process
\trequired = true
"""


def test_globally_installed_lfs_filters_do_not_download_everything(
    genome_repo: SourceRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    global_config = tmp_path / "gitconfig"
    global_config.write_text(GLOBAL_LFS_FILTERS)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    raw = "data/meters/raw/electricity.csv"
    with shallow_checkout(genome_repo.url, "master", TIMEOUT_S) as checkout:
        assert is_lfs_pointer(checkout.root / raw)
        assert is_lfs_pointer(checkout.root / "data/weather/weather.csv")
        checkout.pull_lfs(["data/weather/weather.csv"], TIMEOUT_S)
        assert not is_lfs_pointer(checkout.root / "data/weather/weather.csv")
        assert is_lfs_pointer(checkout.root / raw)


def test_checkout_is_shallow_and_its_directory_always_removed(
    genome_repo: SourceRepo,
) -> None:
    genome_repo.write("data/weather/weather.csv", meter_csv(5))
    second = genome_repo.commit("second commit")
    with (
        pytest.raises(RuntimeError, match="boom"),
        shallow_checkout(genome_repo.url, "master", TIMEOUT_S) as checkout,
    ):
        kept = checkout.root.parent
        assert checkout.commit_sha == second
        count = run_git(["rev-list", "--count", "HEAD"], checkout.root).strip()
        assert count == "1"
        raise RuntimeError("boom")
    assert not kept.exists()


def test_a_local_path_and_a_full_sha_work_offline(genome_repo: SourceRepo) -> None:
    first = run_git(["rev-parse", "HEAD"], genome_repo.work).strip()
    genome_repo.write("data/weather/weather.csv", meter_csv(5))
    genome_repo.commit("second commit")

    with shallow_checkout(str(genome_repo.bare), first, TIMEOUT_S) as checkout:
        assert checkout.commit_sha == first
        assert checkout.repo_url == str(genome_repo.bare)
        count = run_git(["rev-list", "--count", "HEAD"], checkout.root).strip()
        assert count == "1"
        checkout.pull_lfs(["data/weather/weather.csv"], TIMEOUT_S)
        assert not is_lfs_pointer(checkout.root / "data/weather/weather.csv")


def test_an_unknown_ref_fails_with_the_git_message(genome_repo: SourceRepo) -> None:
    with (
        pytest.raises(GitFetchError, match="no-such-branch"),
        shallow_checkout(genome_repo.url, "no-such-branch", TIMEOUT_S),
    ):
        pass


def test_symlinks_leaving_the_repository_are_not_selected(tmp_path: Path) -> None:
    repo = SourceRepo(tmp_path / "links", "main")
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    repo.write("data/ok.csv", "a\n1\n")
    (repo.work / "data/leak.csv").symlink_to(outside)
    repo.commit("links")
    with shallow_checkout(repo.url, "main", TIMEOUT_S) as checkout:
        assert checkout.select(["data/*.csv"], TIMEOUT_S).paths == ("data/ok.csv",)
