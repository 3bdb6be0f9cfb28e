"""Repository URLs and refs from run config never choose a git option or host."""

from pathlib import Path
from typing import Any

import pytest
from dagster import materialize

from moderate.datasets import git
from moderate.datasets.assets import prepared_datasets
from moderate.datasets.git import (
    ALLOW_LOCAL_VARIABLE,
    ALLOWED_HOSTS_VARIABLE,
    GitFetchError,
    GitSourcePolicy,
    GitSourceRefusedError,
    remote_commit,
    shallow_checkout,
    validate_ref,
)
from moderate_tests.datasets.repos import SourceRepo, run_git

TIMEOUT_S = 120
SHA = "0123456789abcdef0123456789abcdef01234567"


def injected_ref(marker: Path) -> str:
    return f"--upload-pack=touch {marker}; git-upload-pack"


def test_an_injected_ref_is_refused_and_runs_nothing(
    genome_repo: SourceRepo, resources: dict[str, Any], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    with (
        pytest.raises(GitSourceRefusedError, match="not a plain branch"),
        shallow_checkout(genome_repo.url, injected_ref(marker), TIMEOUT_S),
    ):
        pass
    result = materialize(
        [prepared_datasets],
        partition_key="genome_project",
        resources=resources,
        run_config={
            "ops": {
                "prepared_datasets": {
                    "config": {"repo_url": genome_repo.url, "ref": injected_ref(marker)}
                }
            }
        },
        raise_on_error=False,
    )
    assert not result.success
    assert not marker.exists()


def test_a_ref_that_slips_past_validation_is_still_no_option(
    genome_repo: SourceRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    monkeypatch.setattr(git, "validate_ref", lambda ref: ref)
    with (
        pytest.raises(GitFetchError, match="upload-pack"),
        shallow_checkout(genome_repo.url, injected_ref(marker), TIMEOUT_S),
    ):
        pass
    assert not marker.exists()


@pytest.mark.parametrize(
    "ref",
    [
        "-x",
        "--upload-pack=x",
        "a..b",
        "main@{1}",
        "x.lock",
        "a//b",
        "",
        "main ",
        "a/",
        "HEAD~1",
        "a:b",
        "feature/.hidden",
        "a\nb",
    ],
)
def test_refs_that_are_not_plain_names_are_refused(ref: str) -> None:
    with pytest.raises(GitSourceRefusedError):
        validate_ref(ref)


@pytest.mark.parametrize("ref", ["main", "v1.0", "feature/x-y_z", SHA])
def test_plain_refs_are_accepted(ref: str) -> None:
    assert validate_ref(ref) == ref


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/x.git",
        "http://github.com/x/y.git",
        "file:///tmp/x.git",
        "/tmp/x.git",
        "git@github.com:x/y.git",
        "ssh://github.com/x/y.git",
        "ext::sh -c touch% /tmp/pwned",
        "-uhttps://github.com/x",
        "https://github.com/x y",
        "",
    ],
)
def test_only_https_urls_of_allowed_hosts_pass_by_default(url: str) -> None:
    with pytest.raises(GitSourceRefusedError):
        GitSourcePolicy().clone_url(url)


def test_local_repositories_need_the_deployment_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://github.com/buds-lab/building-data-genome-project-2.git"
    monkeypatch.delenv(ALLOW_LOCAL_VARIABLE)
    monkeypatch.delenv(ALLOWED_HOSTS_VARIABLE, raising=False)
    policy = GitSourcePolicy.from_environment()
    assert policy.clone_url(url) == url
    with pytest.raises(GitSourceRefusedError, match=ALLOW_LOCAL_VARIABLE):
        policy.clone_url(str(tmp_path))
    monkeypatch.setenv(ALLOW_LOCAL_VARIABLE, "true")
    monkeypatch.setenv(ALLOWED_HOSTS_VARIABLE, "git.example.org, github.com")
    policy = GitSourcePolicy.from_environment()
    assert policy.clone_url(str(tmp_path)) == tmp_path.as_uri()
    assert policy.clone_url("https://git.example.org/a.git")
    with pytest.raises(GitSourceRefusedError, match="not allowed"):
        policy.clone_url("https://gitlab.com/a.git")


def test_run_config_cannot_allow_local_repositories(
    genome_repo: SourceRepo, resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_LOCAL_VARIABLE)
    result = materialize(
        [prepared_datasets],
        partition_key="genome_project",
        resources=resources,
        run_config={
            "ops": {"prepared_datasets": {"config": {"repo_url": genome_repo.url}}}
        },
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    error = failure.event_specific_data.error
    assert ALLOW_LOCAL_VARIABLE in error.message
    assert "\n" not in error.message.strip()


def test_remote_commit_reads_the_branch_without_fetching(
    genome_repo: SourceRepo,
) -> None:
    head = run_git(["rev-parse", "HEAD"], genome_repo.work).strip()
    assert remote_commit(genome_repo.url, "master", TIMEOUT_S) == head
    with pytest.raises(GitFetchError, match="no ref"):
        remote_commit(genome_repo.url, "no-such-branch", TIMEOUT_S)
