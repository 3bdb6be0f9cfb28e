"""Shallow checkouts of a git ref with Git LFS content for selected files only."""

import contextlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from moderate.datasets.globs import GlobSelection, select
from moderate.datasets.naming import redact_url

LFS_POINTER_HEADER = b"version https://git-lfs.github.com/spec/"
LFS_POINTER_MAX_BYTES = 1024
LFS_PATHS_PER_CALL = 50
FULL_SHA = re.compile(r"[0-9a-f]{40}")
ERROR_TAIL_CHARS = 2000
TEMP_PREFIX = "moderate-datasets-"
GIT_OPTIONS = (
    "-c",
    "filter.lfs.smudge=git-lfs smudge --skip -- %f",
    "-c",
    "filter.lfs.process=git-lfs filter-process --skip",
    "-c",
    "filter.lfs.required=false",
    "-c",
    "core.askPass=",
)


class GitFetchError(RuntimeError):
    """A git or Git LFS command failed (the message never shows credentials)."""


@dataclass(frozen=True)
class Checkout:
    """A checked-out commit in a temporary directory.

    Attributes:
        root: Working tree root.
        scratch: Empty directory beside the tree for derived files.
        commit_sha: Full SHA of the checked-out commit.
        repo_url: Source URL without user information.
    """

    root: Path
    scratch: Path
    commit_sha: str
    repo_url: str

    def tracked_files(self, timeout_s: int) -> list[str]:
        """Paths of the tracked files, relative to the root (POSIX)."""
        output = _git(["ls-files", "-z"], self.root, timeout_s)
        return [path for path in output.split("\0") if path]

    def select(self, globs: Sequence[str], timeout_s: int) -> GlobSelection:
        """Tracked regular files (inside the tree) that match ``globs``."""
        selection = select(globs, self.tracked_files(timeout_s))
        root = self.root.resolve()
        inside = tuple(
            path
            for path in selection.paths
            if (self.root / path).is_file()
            and (self.root / path).resolve().is_relative_to(root)
        )
        return GlobSelection(inside, selection.unmatched_globs)

    def pull_lfs(self, relative_paths: Sequence[str], timeout_s: int) -> None:
        """Fetches and checks out Git LFS content of exactly these files.

        Raises:
            GitFetchError: If Git LFS is missing or the transfer failed.
        """
        if not relative_paths:
            return
        if shutil.which("git-lfs") is None:
            raise GitFetchError(
                "files are Git LFS pointers but git-lfs is not installed: "
                + ", ".join(relative_paths)
            )
        for start in range(0, len(relative_paths), LFS_PATHS_PER_CALL):
            batch = relative_paths[start : start + LFS_PATHS_PER_CALL]
            include = ",".join(_lfs_pattern(path) for path in batch)
            _git(
                ["lfs", "pull", "origin", f"--include={include}", "--exclude="],
                self.root,
                timeout_s,
            )


def is_lfs_pointer(path: Path) -> bool:
    """Whether a file is a Git LFS pointer rather than content."""
    with path.open("rb") as handle:
        head = handle.read(LFS_POINTER_MAX_BYTES + 1)
    return len(head) <= LFS_POINTER_MAX_BYTES and head.startswith(LFS_POINTER_HEADER)


def clone_url(repo_url: str) -> str:
    """The URL to fetch from: a local path becomes a ``file://`` URL.

    Plain paths make git ignore ``--depth``; ``file://`` URLs keep the fetch
    shallow and let Git LFS read objects from the local repository.
    """
    if "://" in repo_url or re.match(r"^[\w.-]+@[\w.-]+:", repo_url):
        return repo_url
    return Path(repo_url).expanduser().resolve().as_uri()


@contextlib.contextmanager
def shallow_checkout(repo_url: str, ref: str, timeout_s: int) -> Iterator[Checkout]:
    """Checks out ``ref`` (depth 1, no LFS content) into a temporary directory.

    The directory is removed when the context exits, whatever happens.

    Args:
        repo_url: Remote URL, ``file://`` URL or local path.
        ref: Branch, tag or full commit SHA.
        timeout_s: Limit per git command.

    Yields:
        The checkout.

    Raises:
        GitFetchError: If the ref cannot be fetched.
    """
    url = clone_url(repo_url)
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as temp:
        root = Path(temp) / "repo"
        root.mkdir()
        _git(["init", "--quiet"], root, timeout_s)
        _git(["remote", "add", "origin", url], root, timeout_s)
        _git(
            ["fetch", "--quiet", "--depth", "1", "--no-tags", "origin", ref],
            root,
            timeout_s,
        )
        _git(
            ["-c", "advice.detachedHead=false", "checkout", "--quiet", "FETCH_HEAD"],
            root,
            timeout_s,
        )
        commit = _git(["rev-parse", "HEAD"], root, timeout_s).strip()
        if FULL_SHA.fullmatch(ref) and commit != ref:
            raise GitFetchError(f"fetched {commit} while asking for {ref}")
        scratch = Path(temp) / "scratch"
        scratch.mkdir()
        yield Checkout(
            root=root,
            scratch=scratch,
            commit_sha=commit,
            repo_url=redact_url(repo_url),
        )


def _lfs_pattern(relative_path: str) -> str:
    """An include pattern for one path (commas separate patterns in Git LFS)."""
    return relative_path.replace(",", "?")


def _git(arguments: Sequence[str], cwd: Path, timeout_s: int) -> str:
    command = ["git", *GIT_OPTIONS, *arguments]
    described = " ".join(["git", *(redact_url(argument) for argument in arguments)])
    try:
        completed = subprocess.run(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        raise GitFetchError(f"`{described}` took longer than {timeout_s} s") from None
    except FileNotFoundError:
        raise GitFetchError("git is not installed") from None
    if completed.returncode != 0:
        stderr = _redact_text(completed.stderr.strip())[-ERROR_TAIL_CHARS:]
        raise GitFetchError(
            f"`{described}` failed with exit code {completed.returncode}: {stderr}"
        )
    return completed.stdout


def _redact_text(text: str) -> str:
    return re.sub(r"://[^/@\s]+@", "://", text)
