"""Matrix profile (``stumpy.stump``, or ``stumpy.scrump``), discords and motifs.

stumpy (with numba and scipy) is imported inside the functions that compute, so
an input rejected before the analysis never pays for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from moderate.matrix_profile.worker.numba_cache import enable_compilation_cache

if TYPE_CHECKING:
    from moderate.matrix_profile.worker.options import Approximation

logger = logging.getLogger(__name__)

PROFILE_COLUMN = 0
NEIGHBOUR_COLUMN = 1
NON_SELF_MATCH_DENOMINATOR = 1
APPROXIMATION_SEED = 0


@dataclass(frozen=True)
class Match:
    """A discord (a subsequence far from every other one) or a motif pair.

    Attributes:
        index: Start of the subsequence (of a motif pair: the earlier one).
        neighbour: Start of its nearest neighbour (the other occurrence).
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
        profile: Each subsequence's distance to its nearest neighbour (inf over gaps).
        discords: Top discords, largest distance first.
        motifs: Top motif pairs, smallest distance first.
        flat_windows: Windows of one repeated value (all alike once z-normalised).
        approximate_share: Share of diagonals ``stumpy.scrump`` computed; None
            for the exact profile.
    """

    window: int
    profile: np.ndarray
    discords: tuple[Match, ...]
    motifs: tuple[Match, ...]
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


def analyse(
    values: np.ndarray,
    window: int,
    top_k: int,
    approximation: Approximation | None = None,
) -> Analysis:
    """The matrix profile of ``values`` (NaN in long gaps), top-k discords, motifs.

    stumpy's exclusion zone is widened from a quarter window to a full one, so a
    window's nearest neighbour never overlaps it (the classic definitions). The
    ``approximation`` applies to series longer than its threshold; its profile
    is an upper bound of the exact one, with diagonals from a fixed seed.
    """
    import stumpy
    from stumpy import config as stumpy_config

    enable_compilation_cache()
    share = None
    if approximation is not None and len(values) > approximation.above_points:
        share = approximation.share
    previous = stumpy_config.STUMPY_EXCL_ZONE_DENOM
    stumpy_config.STUMPY_EXCL_ZONE_DENOM = NON_SELF_MATCH_DENOMINATOR
    # Windows overlapping a gap have a zero spread inside stumpy, which divides
    # by it before marking them infinite; that warning is expected noise.
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            if share is None:
                result = stumpy.stump(values, m=window)
                profile = result[:, PROFILE_COLUMN].astype(np.float64)
                neighbours = result[:, NEIGHBOUR_COLUMN].astype(np.int64)
            else:
                np.random.seed(APPROXIMATION_SEED)  # scrump draws diagonals from it
                approximate = stumpy.scrump(
                    values, m=window, percentage=share, pre_scrump=True
                )
                approximate.update()
                profile = np.asarray(approximate.P_, dtype=np.float64)
                neighbours = np.asarray(approximate.I_, dtype=np.int64)
    finally:
        stumpy_config.STUMPY_EXCL_ZONE_DENOM = previous
    discords = _top(profile, neighbours, window, top_k, largest=True)
    motifs = _top(profile, neighbours, window, top_k, largest=False)
    logger.info(
        "matrix profile of %d subsequences (window %d): %d discords, %d motifs",
        len(profile),
        window,
        len(discords),
        len(motifs),
    )
    rolling = pd.Series(values).rolling(window, min_periods=window)
    return Analysis(
        window=window,
        profile=profile,
        discords=discords,
        motifs=motifs,
        flat_windows=int((rolling.max() == rolling.min()).sum()),
        approximate_share=share,
    )


def _top(
    profile: np.ndarray,
    neighbours: np.ndarray,
    window: int,
    top_k: int,
    largest: bool,
) -> tuple[Match, ...]:
    """The ``top_k`` largest (discords) or smallest (motifs) finite values.

    Each pick excludes a window around itself (and, for a motif, around its
    neighbour), so no two picks overlap.
    """
    candidates = np.where(
        np.isfinite(profile), -profile if largest else profile, np.inf
    )
    found: list[Match] = []
    while len(found) < top_k:
        index = int(np.argmin(candidates))
        if not np.isfinite(candidates[index]):
            break
        neighbour = int(neighbours[index])
        first, second = (index, neighbour) if largest else sorted((index, neighbour))
        found.append(Match(first, second, float(profile[index])))
        for start in (index,) if largest else (index, neighbour):
            candidates[max(0, start - window) : start + window] = np.inf
    return tuple(found)
