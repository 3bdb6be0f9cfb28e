"""Dataset naming and git source checks are total over any text a repository
or a run config can hold: a valid result or their own refusal, nothing else."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderate.datasets.git import GitSourcePolicy, GitSourceRefusedError, validate_ref
from moderate.datasets.naming import (
    SHEET_SEPARATOR,
    SLUG_MAX_LENGTH,
    DatasetFormat,
    DatasetNameError,
    InvalidGlobError,
    dataset_name,
    file_slug,
    matches,
    normalise_relative_path,
    upload_file_name,
)
from moderate.support.naming import (
    ELLIPSIS,
    markdown_cell,
    one_line,
    slugify,
    unique_names,
)
from moderate_tests.fuzz.corpus import load_corpus

SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SEEDS = [seed.decode("utf-8", errors="replace") for seed in load_corpus("naming")]
PATH_ALPHABET = st.sampled_from([*"ab./\\#-_ ü\x00\n:@{}~", "..", "€"])
PATHS = st.one_of(
    st.text(max_size=80),
    st.lists(PATH_ALPHABET, max_size=40).map("".join),
    st.sampled_from(SEEDS),
)


def check_name(text: str, sheet: str | None = None) -> None:
    try:
        name = dataset_name(text, sheet)
    except DatasetNameError:
        return
    path = name.split(SHEET_SEPARATOR, 1)[0] if sheet is not None else name
    assert not path.startswith("/") and ".." not in path.split("/")
    assert not CONTROL.search(name) and path
    assert normalise_relative_path(path) == path
    stem = upload_file_name(name, DatasetFormat.PARQUET, ".csv")
    assert stem.endswith(".parquet") and SLUG.fullmatch(stem.removesuffix(".parquet"))


def check_slug(text: str) -> None:
    slug = file_slug(text)
    assert SLUG.fullmatch(slug) and len(slug) <= SLUG_MAX_LENGTH
    assert slugify(text) == "" or SLUG.fullmatch(slugify(text))
    names = unique_names([text, text, slug, f"{text}_2"])
    assert len(set(names)) == len(names) and names[0] == text


def check_glob(pattern: str, path: str) -> None:
    try:
        matched = matches(pattern, path)
    except InvalidGlobError:
        return
    assert isinstance(matched, bool)


def check_ref(text: str) -> None:
    try:
        accepted = validate_ref(text)
    except GitSourceRefusedError:
        return
    assert accepted == text and not text.startswith("-") and ".." not in text
    assert not CONTROL.search(text) and " " not in text


def check_url(text: str) -> None:
    try:
        url = GitSourcePolicy().clone_url(text)
    except GitSourceRefusedError:
        return
    assert url.startswith("https://") and not CONTROL.search(url)


@pytest.mark.parametrize("seed", SEEDS)
def test_seeds(seed: str) -> None:
    check_name(seed)
    check_name("book.xlsx", seed)
    check_slug(seed)
    check_ref(seed)
    check_url(seed)
    check_glob(seed, "data/meters/cleaned/electricity_cleaned.csv")
    check_glob("data/**/*.csv", seed)


@given(PATHS, st.one_of(st.none(), PATHS))
def test_dataset_names(path: str, sheet: str | None) -> None:
    check_name(path, sheet)


@given(PATHS)
def test_slugs(text: str) -> None:
    check_slug(text)


@given(PATHS, PATHS)
def test_globs(pattern: str, path: str) -> None:
    check_glob(pattern, path)


@given(PATHS)
def test_refs(text: str) -> None:
    check_ref(text)


@given(st.one_of(PATHS, st.from_regex(r"\Ahttps?://[a-z.:@-]{0,20}/[ -~]{0,30}\Z")))
def test_repository_urls(text: str) -> None:
    check_url(text)


@given(st.text(max_size=400), st.integers(min_value=2, max_value=300))
def test_one_line_is_one_bounded_line_of_the_text(text: str, limit: int) -> None:
    line = one_line(text, limit)
    flat = " ".join(text.split())
    assert len(line) <= limit
    assert not re.search(r"\s{2}|[\n\r\t]", line)
    if len(flat) <= limit:
        assert line == flat
    else:
        assert line.endswith(ELLIPSIS)
        assert flat.startswith(line[: -len(ELLIPSIS)])
        assert len(line) > limit // 2


def test_one_line_keeps_part_of_a_long_word_and_cuts_at_a_space_when_it_can() -> None:
    assert one_line("see https://" + "x" * 50, 20) == "see https://xxxxxxx…"
    assert one_line("first second third fourth", 16) == "first second…"
    assert one_line(" a \n\t b ", 10) == "a b"


@given(st.text(max_size=200))
def test_markdown_cell_leaves_no_bare_pipe_or_line_break(text: str) -> None:
    cell = markdown_cell(text)
    assert len(cell.splitlines()) <= 1
    assert all(cell[i - 1 : i] == "\\" for i, c in enumerate(cell) if c == "|")
    assert cell.replace("\\|", "|").split() == text.split()
