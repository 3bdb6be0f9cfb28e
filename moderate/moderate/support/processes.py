"""Stops a child's whole process group (the standard library stops one process only)."""

import contextlib
import os
import signal
import subprocess

DEFAULT_KILL_GRACE_S = 5.0


def stop_process_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``, to the group of ``process``.

    ``process`` must lead its group (``start_new_session=True``); returns once
    it is reaped. A group already gone is not an error.
    """
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
