"""Shallow checkouts of a git ref with Git LFS content for selected files only.

Repository URLs and refs come from run config, so both are checked here before
any git command runs: refs against a strict pattern (never an option), URLs
against the deployment's host allow-list (HTTPS only). Local paths and
``file://`` URLs are refused unless the deployment's environment allows them
(``MODERATE_DATASETS_ALLOW_LOCAL_REPOSITORIES``, for tests and offline mirrors);
run config cannot change either setting.
"""

import contextlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dagster import EnvVar

from moderate.datasets.naming import GlobSelection, redact_url, select

LFS_POINTER_HEADER = b"version https://git-lfs.github.com/spec/"
LFS_POINTER_MAX_BYTES = 1024
LFS_PATHS_PER_CALL = 50
FULL_SHA = re.compile(r"[0-9a-f]{40}")
ERROR_TAIL_CHARS = 2000
TEMP_PREFIX = "moderate-datasets-"
ALLOWED_HOSTS_VARIABLE = "MODERATE_DATASETS_GIT_HOSTS"
ALLOW_LOCAL_VARIABLE = "MODERATE_DATASETS_ALLOW_LOCAL_REPOSITORIES"
DEFAULT_ALLOWED_HOSTS = ("github.com",)
TRUE_WORDS = frozenset({"1", "true", "yes"})
REF_MAX_CHARS = 200
REF_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._/-]{{0,{REF_MAX_CHARS - 1}}}")
REF_FORBIDDEN = ("..", "//", "@{", "/.")
REF_FORBIDDEN_ENDINGS = ("/", ".", ".lock")
URL_MAX_CHARS = 2000
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
GIT_OPTIONS = (
    "-c",
    "filter.lfs.smudge=git-lfs smudge --skip -- %f",
    "-c",
    "filter.lfs.process=git-lfs filter-process --skip",
    "-c",
    "filter.lfs.required=false",
    "-c",
    "core.askPass=",
    "-c",
    "protocol.allow=never",
    "-c",
    "protocol.https.allow=always",
)
LOCAL_GIT_OPTIONS = ("-c", "protocol.file.allow=always")


class GitFetchError(RuntimeError):
    """A git or Git LFS command failed (the message never shows credentials)."""


class GitSourceRefusedError(ValueError):
    """A repository URL or ref is outside what the deployment allows."""


@dataclass(frozen=True)
class GitSourcePolicy:
    """Which repositories may be fetched (deployment settings, never run config).

    Attributes:
        allowed_hosts: Host names reachable over HTTPS.
        allow_local: Whether local paths and ``file://`` URLs are allowed.
    """

    allowed_hosts: frozenset[str] = frozenset(DEFAULT_ALLOWED_HOSTS)
    allow_local: bool = False

    @classmethod
    def from_environment(cls) -> "GitSourcePolicy":
        """The deployment's policy, read from its environment at run time.

        ``MODERATE_DATASETS_GIT_HOSTS`` is comma-separated (default
        ``github.com``); ``MODERATE_DATASETS_ALLOW_LOCAL_REPOSITORIES`` is
        ``true`` to allow local repositories.
        """
        hosts = EnvVar(ALLOWED_HOSTS_VARIABLE).get_value() or ""
        allowed = {host.strip().lower() for host in hosts.split(",") if host.strip()}
        local = (EnvVar(ALLOW_LOCAL_VARIABLE).get_value() or "").strip().lower()
        return cls(
            allowed_hosts=frozenset(allowed or DEFAULT_ALLOWED_HOSTS),
            allow_local=local in TRUE_WORDS,
        )

    @property
    def git_options(self) -> tuple[str, ...]:
        """Extra ``-c`` options for the transports this policy allows."""
        return LOCAL_GIT_OPTIONS if self.allow_local else ()

    def clone_url(self, repo_url: str) -> str:
        """The URL to fetch from, once the policy accepts it.

        Plain paths become ``file://`` URLs: git ignores ``--depth`` for plain
        paths, and Git LFS reads objects from a ``file://`` remote.

        Raises:
            GitSourceRefusedError: If the URL is malformed or not allowed.
        """
        if not repo_url or len(repo_url) > URL_MAX_CHARS:
            raise GitSourceRefusedError("repo_url is empty or too long")
        if _UNSAFE_URL_CHARS.search(repo_url) or repo_url.startswith("-"):
            raise GitSourceRefusedError(
                "repo_url contains spaces, control characters or backslashes, "
                "or starts with '-'"
            )
        parts = urlsplit(repo_url)
        if parts.scheme == "https":
            host = (parts.hostname or "").lower()
            if host not in self.allowed_hosts:
                raise GitSourceRefusedError(
                    f"repository host {host!r} is not allowed (allowed: "
                    f"{', '.join(sorted(self.allowed_hosts))}; set "
                    f"{ALLOWED_HOSTS_VARIABLE})"
                )
            return repo_url
        local = parts.scheme == "file" or (not parts.scheme and "://" not in repo_url)
        if local and self.allow_local:
            if parts.scheme == "file":
                return repo_url
            path = Path(repo_url).expanduser()
            if ":" in repo_url.split("/", 1)[0]:
                raise GitSourceRefusedError("repo_url looks like an scp-style URL")
            return path.resolve().as_uri()
        raise GitSourceRefusedError(
            "repo_url must be an https:// URL of an allowed host"
            + ("" if local else f", not {parts.scheme or 'scp-style'}")
            + (f" (local repositories need {ALLOW_LOCAL_VARIABLE})" if local else "")
        )


def validate_ref(ref: str) -> str:
    """Returns ``ref`` if it is a plain branch, tag or commit name.

    Raises:
        GitSourceRefusedError: If it could be read as an option or a revision
            expression (``-…``, ``..``, ``@{``, ``.lock`` …).
    """
    if (
        not REF_PATTERN.fullmatch(ref)
        or any(part in ref for part in REF_FORBIDDEN)
        or ref.endswith(REF_FORBIDDEN_ENDINGS)
    ):
        raise GitSourceRefusedError(
            f"ref {ref[:REF_MAX_CHARS]!r} is not a plain branch, tag or commit "
            "name (letters, digits, '.', '_', '-', '/'; not starting with '-')"
        )
    return ref


@dataclass(frozen=True)
class Checkout:
    """A checked-out commit in a temporary directory.

    Attributes:
        root: Working tree root.
        scratch: Empty directory beside the tree for derived files.
        commit_sha: Full SHA of the checked-out commit.
        repo_url: Source URL without user information.
        git_options: Extra ``-c`` options of the transports allowed.
    """

    root: Path
    scratch: Path
    commit_sha: str
    repo_url: str
    git_options: tuple[str, ...] = ()

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
                [
                    *self.git_options,
                    "lfs",
                    "pull",
                    f"--include={include}",
                    "--exclude=",
                    "origin",
                ],
                self.root,
                timeout_s,
            )


def is_lfs_pointer(path: Path) -> bool:
    """Whether a file is a Git LFS pointer rather than content."""
    with path.open("rb") as handle:
        head = handle.read(LFS_POINTER_MAX_BYTES + 1)
    return len(head) <= LFS_POINTER_MAX_BYTES and head.startswith(LFS_POINTER_HEADER)


@contextlib.contextmanager
def shallow_checkout(
    repo_url: str, ref: str, timeout_s: int, policy: GitSourcePolicy | None = None
) -> Iterator[Checkout]:
    """Checks out ``ref`` (depth 1, no LFS content) into a temporary directory.

    The directory is removed when the context exits, whatever happens.

    Args:
        repo_url: HTTPS URL (or, where the policy allows, a local repository).
        ref: Branch, tag or full commit SHA.
        timeout_s: Limit per git command.
        policy: Allowed sources; the deployment's environment when None.

    Yields:
        The checkout.

    Raises:
        GitSourceRefusedError: If the URL or ref is not allowed.
        GitFetchError: If the ref cannot be fetched.
    """
    policy = policy or GitSourcePolicy.from_environment()
    url = policy.clone_url(repo_url)
    validate_ref(ref)
    options = policy.git_options
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as temp:
        root = Path(temp) / "repo"
        root.mkdir()
        _git(["init", "--quiet"], root, timeout_s)
        _git(["remote", "add", "--", "origin", url], root, timeout_s)
        _git(
            [
                *options,
                "fetch",
                "--quiet",
                "--depth=1",
                "--no-tags",
                "--",
                "origin",
                ref,
            ],
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
            git_options=options,
        )


def remote_commit(
    repo_url: str, ref: str, timeout_s: int, policy: GitSourcePolicy | None = None
) -> str:
    """The commit ``ref`` names on the remote (``git ls-remote``), nothing fetched.

    A full commit SHA is returned as it is.

    Raises:
        GitSourceRefusedError: If the URL or ref is not allowed.
        GitFetchError: If the remote cannot be read or has no such ref.
    """
    policy = policy or GitSourcePolicy.from_environment()
    url = policy.clone_url(repo_url)
    validate_ref(ref)
    if FULL_SHA.fullmatch(ref):
        return ref
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as temp:
        output = _git(
            [*policy.git_options, "ls-remote", "--", url, ref], Path(temp), timeout_s
        )
    wanted = (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}")
    found: dict[str, str] = {}
    for line in output.splitlines():
        commit, _, name = line.partition("\t")
        found[name] = commit
    for name in wanted:
        if name in found:
            return found[name]
    raise GitFetchError(f"{redact_url(repo_url)} has no ref {ref!r}")


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
