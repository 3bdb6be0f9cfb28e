"""Matrix profile (``stumpy.stump``, or ``stumpy.scrump``), discords and motifs.

stumpy is imported when needed: an input rejected early never pays for it.
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
    """A discord or a motif pair: the starts of a window and its nearest neighbour.

    A motif's ``index`` is the earlier of the two; ``distance`` is z-normalised.
    """

    index: int
    neighbour: int
    distance: float


@dataclass(frozen=True)
class Analysis:
    """Matrix profile of a series (inf over gaps), its neighbours and findings.

    Discords come largest distance first, motifs smallest first; ``flat_windows``
    hold one repeated value; ``approximate_share`` is the share of diagonals
    ``stumpy.scrump`` computed (None: exact).
    """

    window: int
    profile: np.ndarray
    neighbours: np.ndarray
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

    The exclusion zone is a full window (no neighbour overlaps its window); the
    ``approximation`` applies above its threshold, with a fixed seed.
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
        neighbours=neighbours,
        discords=discords,
        motifs=motifs,
        flat_windows=int((rolling.max() == rolling.min()).sum()),
        approximate_share=share,
    )


def _top(
    profile: np.ndarray, neighbours: np.ndarray, window: int, top_k: int, largest: bool
) -> tuple[Match, ...]:
    """The ``top_k`` largest (discords) or smallest (motifs), never overlapping."""
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
