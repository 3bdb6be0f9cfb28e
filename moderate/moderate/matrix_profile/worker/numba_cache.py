"""Seeds numba's writable cache folder from the cache built into the image.

numba only uses a cache folder it can write to, and the analysis Job's root
filesystem is read-only: the cache compiled at image build time (for a generic
CPU, see the Dockerfile) is copied into the Job's scratch ``NUMBA_CACHE_DIR``
before the first compiled function is looked up, so no Job compiles stumpy.
"""

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

SEED_ENV = "MODERATE_NUMBA_CACHE_SEED"
CACHE_DIR_ENV = "NUMBA_CACHE_DIR"


def seed_cache(environ: Mapping[str, str] | None = None) -> int:
    """Copies the cache in ``$MODERATE_NUMBA_CACHE_SEED`` into ``$NUMBA_CACHE_DIR``.

    Files already in the cache folder are kept (they may be newer). Nothing
    happens unless both variables are set and the seed folder exists.

    Args:
        environ: Environment to read the two folders from (default: the process's).

    Returns:
        How many files were copied.
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
