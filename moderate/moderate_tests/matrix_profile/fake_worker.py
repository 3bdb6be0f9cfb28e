"""A stand-in for the worker CLI whose behaviour is chosen by the analysis variable.

Used where a test needs a worker that hangs, crashes or lies; the end-to-end
tests run the real worker. Like the real one it takes the presigned URLs from
its environment and reports its summary as a Dagster Pipes custom message.
Modes (``--analysis-variable``):

- ``ok``: uploads a small report with the presigned PUT and reports the summary;
- ``no-upload``: exits 0 and reports the summary without uploading anything;
- ``input-error``: exits 2 with a ``moderate-mp-error:`` line;
- ``crash``: raises (a traceback, exit 1, no error line);
- ``hang``: starts a sleeping child, writes both pids to ``--window``, sleeps;
- ``sigkill``: kills itself with SIGKILL;
- ``env``: reports its environment variable names and its argv as the summary;
- ``chatty``: prints many lines then fails with an error line.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request

from dagster_pipes import open_dagster_pipes

from moderate.matrix_profile.worker.options import SUMMARY_MESSAGE_TYPE

SLEEP_S = 600


def _report(summary: dict) -> None:
    with open_dagster_pipes() as pipes:
        pipes.report_custom_message({"type": SUMMARY_MESSAGE_TYPE, **summary})


def _upload(url: str) -> None:
    request = urllib.request.Request(
        url,
        data=b"<html><body>fake report</body></html>",
        method="PUT",
        headers={"Content-Type": "text/html"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--analysis-variable", required=True)
    parser.add_argument("--window")
    parser.add_argument("--top-k")
    parser.add_argument("--http-timeout-s")
    arguments = parser.parse_args()
    mode = arguments.analysis_variable
    input_url = os.environ["MODERATE_MP_INPUT_URL"]
    upload_url = os.environ["MODERATE_MP_REPORT_UPLOAD_URL"]
    print(f"fake worker starting in mode {mode}", file=sys.stderr, flush=True)
    if mode == "ok":
        _upload(upload_url)
        _report({"mode": mode})
        return 0
    if mode == "no-upload":
        _report({"mode": mode})
        return 0
    if mode == "input-error":
        print("moderate-mp-error: The input has no 'ok' column.", file=sys.stderr)
        return 2
    if mode == "crash":
        raise RuntimeError(f"boom while reading {input_url}")
    if mode == "hang":
        child = subprocess.Popen(
            [sys.executable, "-c", f"import time; time.sleep({SLEEP_S})"]
        )
        with open(arguments.window, "w", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {child.pid}")
        time.sleep(SLEEP_S)
        return 0
    if mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "env":
        _report({"env": sorted(os.environ), "argv": sys.argv})
        return 0
    if mode == "chatty":
        for number in range(20_000):
            print(f"progress line {number:06d} " + "x" * 200, flush=False)
        print("moderate-mp-error: gave up after chatting", file=sys.stderr, flush=True)
        return 1
    print(f"moderate-mp-error: unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
