"""Committed seed corpora for the fuzz tests."""

from __future__ import annotations

from pathlib import Path

CORPUS_ROOT = Path(__file__).parent / "corpus"


def load_corpus(area: str) -> list[bytes]:
    """Returns every seed of one area, sorted by file name.

    Args:
        area: the corpus folder under ``corpus/`` (e.g. ``"messages"``).

    Raises:
        FileNotFoundError: the area has no seed files (a corpus is never empty).
    """
    seeds = sorted(path for path in (CORPUS_ROOT / area).glob("*") if path.is_file())
    if not seeds:
        raise FileNotFoundError(f"no seed files in {CORPUS_ROOT / area}")
    return [path.read_bytes() for path in seeds]
