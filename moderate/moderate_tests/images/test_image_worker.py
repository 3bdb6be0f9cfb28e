"""The worker image run exactly as the analysis Job runs it."""

import json

from moderate_tests.images.worker_job import run_worker

POINTS = 5_000


def test_analysis_job_completes_without_compiling(images):
    run = run_worker(images["matrix-profile-worker"].tag, POINTS, {})

    print(f"worker in its image, {POINTS} points: {run.wall_s:.1f} s wall")
    assert run.exit_code == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["status"] == "ok"
    assert summary["points"] >= POINTS
    (report,) = run.reports
    assert report.lstrip().lower().startswith(b"<!doctype html")
    assert run.compiled == 0, "numba compiled in the Job:\n" + run.stdout[-3000:]
    assert run.loaded > 0, "numba never read its cache:\n" + run.stdout[-3000:]
    assert "files copied from /opt/numba-cache to /tmp/numba" in run.stderr
