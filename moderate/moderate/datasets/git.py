"""Shallow checkouts of a git ref with Git LFS content for selected files only.

URLs and refs come from run config, so both are checked before any git command
runs, against settings of the deployment's environment only (docs/security.md).
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

from moderate.datasets.config import REF_FIELD_PATTERN, REF_MAX_CHARS
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
REF_PATTERN = re.compile(REF_FIELD_PATTERN)
REF_FORBIDDEN = ("..", "//", "@{", "/.")
REF_FORBIDDEN_ENDINGS = ("/", ".", ".lock")
URL_MAX_CHARS = 2000
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
GIT_SETTINGS = (
    "filter.lfs.smudge=git-lfs smudge --skip -- %f",
    "filter.lfs.process=git-lfs filter-process --skip",
    "filter.lfs.required=false",
    "core.askPass=",
    "protocol.allow=never",
    "protocol.https.allow=always",
)
GIT_OPTIONS = tuple(part for setting in GIT_SETTINGS for part in ("-c", setting))
LOCAL_GIT_OPTIONS = ("-c", "protocol.file.allow=always")
FETCH_ARGUMENTS = ("fetch", "--quiet", "--depth=1", "--no-tags", "--", "origin")


class GitFetchError(RuntimeError):
    """A git or Git LFS command failed (the message never shows credentials)."""


class GitSourceRefusedError(ValueError):
    """A repository URL or ref is outside what the deployment allows."""


@dataclass(frozen=True)
class GitSourcePolicy:
    """Which repositories may be fetched (deployment settings, never run config)."""

    allowed_hosts: frozenset[str] = frozenset(DEFAULT_ALLOWED_HOSTS)
    allow_local: bool = False

    @classmethod
    def from_environment(cls) -> "GitSourcePolicy":
        """The policy the deployment's environment sets, read at run time."""
        hosts = EnvVar(ALLOWED_HOSTS_VARIABLE).get_value() or ""
        allowed = {host.strip().lower() for host in hosts.split(",") if host.strip()}
        local = (EnvVar(ALLOW_LOCAL_VARIABLE).get_value() or "").strip().lower()
        return cls(
            allowed_hosts=frozenset(allowed or DEFAULT_ALLOWED_HOSTS),
            allow_local=local in TRUE_WORDS,
        )

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
            if ":" in repo_url.split("/", 1)[0]:
                raise GitSourceRefusedError("repo_url looks like an scp-style URL")
            return Path(repo_url).expanduser().resolve().as_uri()
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
    """A checked-out commit, and a ``scratch`` directory for derived files."""

    root: Path
    scratch: Path
    commit_sha: str
    repo_url: str
    git_options: tuple[str, ...]

    def select(self, globs: Sequence[str], timeout_s: int) -> GlobSelection:
        """Tracked regular files (inside the tree) that match ``globs``."""
        tracked = _git(["ls-files", "-z"], self.root, timeout_s).split("\0")
        selection = select(globs, [path for path in tracked if path])
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
        if shutil.which("git-lfs") is None:
            raise GitFetchError(
                "files are Git LFS pointers but git-lfs is not installed: "
                + ", ".join(relative_paths)
            )
        for start in range(0, len(relative_paths), LFS_PATHS_PER_CALL):
            batch = relative_paths[start : start + LFS_PATHS_PER_CALL]
            # Commas separate Git LFS patterns: "?" matches a comma in a path.
            include = ",".join(path.replace(",", "?") for path in batch)
            pull = ["lfs", "pull", f"--include={include}", "--exclude=", "origin"]
            _git([*self.git_options, *pull], self.root, timeout_s)


def is_lfs_pointer(path: Path) -> bool:
    """Whether a file is a Git LFS pointer rather than content."""
    with path.open("rb") as handle:
        head = handle.read(LFS_POINTER_MAX_BYTES + 1)
    return len(head) <= LFS_POINTER_MAX_BYTES and head.startswith(LFS_POINTER_HEADER)


@contextlib.contextmanager
def shallow_checkout(repo_url: str, ref: str, timeout_s: int) -> Iterator[Checkout]:
    """Checks out ``ref`` (depth 1, no LFS content) into a temporary directory.

    The directory is removed when the context exits, whatever happens.

    Raises:
        GitSourceRefusedError: If the URL or ref is not allowed.
        GitFetchError: If the ref cannot be fetched.
    """
    url, options = _checked(repo_url, ref)
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as temp:
        root = Path(temp) / "repo"
        root.mkdir()
        for arguments in (
            ["init", "--quiet"],
            ["remote", "add", "--", "origin", url],
            [*options, *FETCH_ARGUMENTS, ref],
            ["-c", "advice.detachedHead=false", "checkout", "--quiet", "FETCH_HEAD"],
        ):
            _git(arguments, root, timeout_s)
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


def remote_commit(repo_url: str, ref: str, timeout_s: int) -> str:
    """The commit ``ref`` names on the remote (``git ls-remote``), nothing fetched.

    A full commit SHA is returned as it is.

    Raises:
        GitSourceRefusedError: If the URL or ref is not allowed.
        GitFetchError: If the remote cannot be read or has no such ref.
    """
    url, options = _checked(repo_url, ref)
    if FULL_SHA.fullmatch(ref):
        return ref
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as temp:
        output = _git([*options, "ls-remote", "--", url, ref], Path(temp), timeout_s)
    lines = (line.partition("\t") for line in output.splitlines())
    found = {name: commit for commit, _, name in lines}
    for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
        if name in found:
            return found[name]
    raise GitFetchError(f"{redact_url(repo_url)} has no ref {ref!r}")


def _checked(repo_url: str, ref: str) -> tuple[str, tuple[str, ...]]:
    """The URL to fetch and the transports' ``-c`` options, once both are accepted."""
    policy = GitSourcePolicy.from_environment()
    url = policy.clone_url(repo_url)
    validate_ref(ref)
    return url, LOCAL_GIT_OPTIONS if policy.allow_local else ()


def _git(arguments: Sequence[str], cwd: Path, timeout_s: int) -> str:
    command = ["git", *GIT_OPTIONS, *arguments]
    described = redact_url(" ".join(["git", *arguments]))
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
        stderr = redact_url(completed.stderr.strip())[-ERROR_TAIL_CHARS:]
        raise GitFetchError(
            f"`{described}` failed with exit code {completed.returncode}: {stderr}"
        )
    return completed.stdout
