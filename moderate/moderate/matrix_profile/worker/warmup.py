"""Compiles stumpy's numba functions into the on-disk cache (see ``numba_cache``).

Run ``python -m moderate.matrix_profile.worker.warmup`` once when building the
worker image. The series has a gap, as real inputs do, so the same compiled
functions serve series with and without missing values.
"""

import logging
import time

import numpy as np

from moderate.matrix_profile.worker.analysis import analyse

logger = logging.getLogger(__name__)

WARMUP_POINTS = 512
WARMUP_WINDOW = 16
GAP = slice(200, 240)


def main() -> None:
    """Runs one small analysis with the compilation cache enabled."""
    logging.basicConfig(level=logging.INFO)
    started = time.perf_counter()
    values = np.sin(np.linspace(0, 16 * np.pi, WARMUP_POINTS))
    values[GAP] = np.nan
    analyse(values, WARMUP_WINDOW, top_k=1)
    logger.info("stumpy compiled and cached in %.1f s", time.perf_counter() - started)


if __name__ == "__main__":
    main()
