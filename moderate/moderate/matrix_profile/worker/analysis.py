"""Matrix profile, top discords and top motif pairs.

The profile is ``stumpy.stump`` (exact), or ``stumpy.scrump`` when the
deployment asks for the approximate mode.

stumpy (with numba and scipy) is imported inside the functions that compute, so
an input rejected before the analysis never pays for it.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from moderate.matrix_profile.worker.numba_cache import seed_cache

if TYPE_CHECKING:
    from moderate.matrix_profile.worker.options import Approximation

logger = logging.getLogger(__name__)

PROFILE_COLUMN = 0
NEIGHBOUR_COLUMN = 1
NON_SELF_MATCH_DENOMINATOR = 1
APPROXIMATION_SEED = 0


@dataclass(frozen=True)
class Discord:
    """A subsequence far from every other one (an anomaly).

    Attributes:
        index: Start of the subsequence on the grid.
        neighbour: Start of its nearest neighbour.
        distance: z-normalised Euclidean distance to the nearest neighbour.
    """

    index: int
    neighbour: int
    distance: float


@dataclass(frozen=True)
class Motif:
    """A pair of subsequences closer to each other than any other pair.

    Attributes:
        index: Start of the first occurrence.
        neighbour: Start of the second occurrence.
        distance: z-normalised Euclidean distance between the two.
    """

    index: int
    neighbour: int
    distance: float


@dataclass(frozen=True)
class Analysis:
    """Matrix profile of a series and what was found in it.

    Attributes:
        window: Subsequence length in points.
        profile: Distance of each subsequence to its nearest neighbour (inf
            where the subsequence overlaps a gap).
        neighbours: Start of each subsequence's nearest neighbour.
        discords: Top discords, largest distance first.
        motifs: Top motif pairs, smallest distance first.
        flat_windows: Windows holding one repeated value (outages, stuck
            sensors); z-normalisation makes them all identical.
        approximate_share: None for the exact profile; else the share of the
            distance matrix's diagonals ``stumpy.scrump`` computed.
    """

    window: int
    profile: np.ndarray
    neighbours: np.ndarray
    discords: tuple[Discord, ...]
    motifs: tuple[Motif, ...]
    flat_windows: int
    approximate_share: float | None = None

    @property
    def exact(self) -> bool:
        """Whether the profile is exact (``stumpy.stump``)."""
        return self.approximate_share is None

    @property
    def typical_distance(self) -> float:
        """Median of the finite profile values: the distance of ordinary windows."""
        return float(np.median(self.profile[np.isfinite(self.profile)]))

    @property
    def excluded(self) -> int:
        """Subsequences without a profile value because they overlap a gap."""
        return int((~np.isfinite(self.profile)).sum())


@functools.cache
def enable_compilation_cache() -> None:
    """Lets numba keep stumpy's compiled functions on disk between processes.

    Compiling ``stumpy.stump`` takes close to a minute on a small machine; with
    the cache only the first run in an environment (or the image build, see
    ``warmup.py``) pays it. Numba stores the cache beside the package, or in
    the user's cache folder when that is read-only; in the image, the cache
    built at image build time is first copied into ``NUMBA_CACHE_DIR``.
    """
    from stumpy import cache as stumpy_cache

    seed_cache()
    for module_name, function_name in stumpy_cache.get_njit_funcs():
        module = importlib.import_module(f"stumpy.{module_name}")
        try:
            getattr(module, function_name).enable_caching()
        except RuntimeError as error:
            # Numba raises RuntimeError when no cache folder is writable: the
            # analysis still runs, it only compiles again.
            logger.warning("numba cache unavailable, compiling every run: %s", error)
            return


def analyse(
    values: np.ndarray,
    window: int,
    top_k: int,
    approximation: Approximation | None = None,
) -> Analysis:
    """Computes the matrix profile and picks discords and motifs.

    Args:
        values: Regular series; NaN inside long gaps.
        window: Subsequence length in points.
        top_k: How many discords and motif pairs to return (at most).
        approximation: The deployment's approximate mode, or None for the exact
            profile. It applies only to series longer than its threshold.

    Returns:
        The analysis.
    """
    enable_compilation_cache()
    share = None
    if approximation is not None and len(values) > approximation.above_points:
        share = approximation.share
    # Windows overlapping a gap have a zero spread inside stumpy, which divides
    # by it before marking them infinite; that warning is expected noise.
    with np.errstate(divide="ignore", invalid="ignore"), _non_self_matches():
        if share is None:
            profile, neighbours = _exact_profile(values, window)
        else:
            profile, neighbours = _approximate_profile(values, window, share)
    discords = top_discords(profile, neighbours, window, top_k)
    motifs = top_motifs(profile, neighbours, window, top_k)
    logger.info(
        "matrix profile of %d subsequences (window %d): %d discords, %d motifs",
        len(profile),
        window,
        len(discords),
        len(motifs),
    )
    return Analysis(
        window=window,
        profile=profile,
        neighbours=neighbours,
        discords=discords,
        motifs=motifs,
        flat_windows=count_flat_windows(values, window),
        approximate_share=share,
    )


def _exact_profile(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    import stumpy

    result = stumpy.stump(values, m=window)
    return (
        result[:, PROFILE_COLUMN].astype(np.float64),
        result[:, NEIGHBOUR_COLUMN].astype(np.int64),
    )


def _approximate_profile(
    values: np.ndarray, window: int, share: float
) -> tuple[np.ndarray, np.ndarray]:
    """``stumpy.scrump`` over ``share`` of the diagonals, after its pre-scan.

    Every value is an upper bound of the exact one (a neighbour was found, maybe
    not the nearest): motifs are real pairs but maybe not the closest, and a
    discord's distance may be overstated. The diagonals are drawn with a fixed
    seed, so one input gives one report.
    """
    import stumpy

    np.random.seed(APPROXIMATION_SEED)  # stumpy draws the diagonals from it
    approximate = stumpy.scrump(values, m=window, percentage=share, pre_scrump=True)
    approximate.update()
    return (
        np.asarray(approximate.P_, dtype=np.float64),
        np.asarray(approximate.I_, dtype=np.int64),
    )


@contextmanager
def _non_self_matches() -> Iterator[None]:
    """Makes stumpy ignore every neighbour that overlaps the window itself.

    stumpy's default exclusion zone is a quarter window, so a window's nearest
    neighbour may overlap it by up to three quarters. The classic discord and
    motif definitions compare only non-overlapping windows (a full-window
    exclusion zone). stumpy reads the setting from its module config at call
    time; it is restored afterwards.
    """
    from stumpy import config as stumpy_config

    previous = stumpy_config.STUMPY_EXCL_ZONE_DENOM
    stumpy_config.STUMPY_EXCL_ZONE_DENOM = NON_SELF_MATCH_DENOMINATOR
    try:
        yield
    finally:
        stumpy_config.STUMPY_EXCL_ZONE_DENOM = previous


def count_flat_windows(values: np.ndarray, window: int) -> int:
    """Windows whose finite values are all equal (gaps do not count)."""
    import pandas as pd

    rolling = pd.Series(values).rolling(window, min_periods=window)
    return int((rolling.max() == rolling.min()).sum())


def top_discords(
    profile: np.ndarray, neighbours: np.ndarray, window: int, top_k: int
) -> tuple[Discord, ...]:
    """The ``top_k`` largest finite profile values, at least a window apart.

    Args:
        profile: Matrix profile.
        neighbours: Nearest-neighbour indices.
        window: Exclusion half-width around each pick, in points.
        top_k: Maximum number of discords.

    Returns:
        Discords, largest distance first.
    """
    candidates = np.where(np.isfinite(profile), profile, -np.inf)
    found: list[Discord] = []
    while len(found) < top_k:
        index = int(np.argmax(candidates))
        if not np.isfinite(candidates[index]):
            break
        found.append(Discord(index, int(neighbours[index]), float(profile[index])))
        _exclude(candidates, index, window, -np.inf)
    return tuple(found)


def top_motifs(
    profile: np.ndarray, neighbours: np.ndarray, window: int, top_k: int
) -> tuple[Motif, ...]:
    """The ``top_k`` closest pairs; no two pairs share an occurrence.

    Args:
        profile: Matrix profile.
        neighbours: Nearest-neighbour indices.
        window: Exclusion half-width around both occurrences, in points.
        top_k: Maximum number of pairs.

    Returns:
        Motif pairs, smallest distance first (earlier occurrence first).
    """
    candidates = np.where(np.isfinite(profile), profile, np.inf)
    found: list[Motif] = []
    while len(found) < top_k:
        index = int(np.argmin(candidates))
        if not np.isfinite(candidates[index]):
            break
        neighbour = int(neighbours[index])
        first, second = sorted((index, neighbour))
        found.append(Motif(first, second, float(profile[index])))
        _exclude(candidates, index, window, np.inf)
        _exclude(candidates, neighbour, window, np.inf)
    return tuple(found)


def _exclude(candidates: np.ndarray, index: int, window: int, fill: float) -> None:
    candidates[max(0, index - window) : index + window] = fill
