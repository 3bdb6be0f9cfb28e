"""numba's on-disk cache of stumpy's compiled functions: built, seeded, enabled.

Compiling stumpy takes a minute: the image build runs this module; each Job
copies the cache into its writable ``NUMBA_CACHE_DIR`` before stumpy is used.
"""

import functools
import importlib
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SEED_ENV = "MODERATE_NUMBA_CACHE_SEED"
CACHE_DIR_ENV = "NUMBA_CACHE_DIR"
WARMUP_POINTS = 512
WARMUP_WINDOW = 16
WARMUP_GAP = slice(200, 240)


def seed_cache(environ: Mapping[str, str] | None = None) -> int:
    """Copies the files ``$MODERATE_NUMBA_CACHE_SEED`` adds to ``$NUMBA_CACHE_DIR``.

    Returns:
        How many files were copied (none unless both variables are set).
    """
    env = os.environ if environ is None else environ
    seed, target = env.get(SEED_ENV), env.get(CACHE_DIR_ENV)
    if not seed or not target:
        return 0
    source, destination = Path(seed), Path(target)
    if not source.is_dir() or source.resolve() == destination.resolve():
        return 0
    copied = 0
    for path in source.rglob("*"):
        out = destination / path.relative_to(source)
        if path.is_file() and not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)
            copied += 1
    logger.info("numba cache: %d files copied from %s to %s", copied, source, target)
    return copied


@functools.cache
def enable_compilation_cache() -> None:
    """Seeds the cache, then lets numba keep stumpy's functions in it."""
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


def main() -> None:
    """Compiles stumpy into the cache with one small analysis of a gapped series."""
    from moderate.matrix_profile.worker.analysis import analyse

    logging.basicConfig(level=logging.INFO)
    started = time.perf_counter()
    values = np.sin(np.linspace(0, 16 * np.pi, WARMUP_POINTS))
    values[WARMUP_GAP] = np.nan
    analyse(values, WARMUP_WINDOW, top_k=1)
    logger.info("stumpy compiled and cached in %.1f s", time.perf_counter() - started)


if __name__ == "__main__":
    main()
