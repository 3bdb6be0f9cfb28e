"""The worker image run exactly as the analysis Job runs it, Pipes session included."""

from dagster import OpExecutionContext, PipesEnvContextInjector, open_pipes_session

from moderate.matrix_profile.worker.options import SUMMARY_MESSAGE_TYPE
from moderate.support.pipes import JobLogMessageReader, custom_message
from moderate_tests.images.worker_job import WorkerRun, run_worker
from moderate_tests.matrix_profile.support import in_op

POINTS = 5_000


def _run_in_pipes_session(image: str) -> tuple[WorkerRun, dict | None]:
    def analyse(context: OpExecutionContext) -> tuple[WorkerRun, dict | None]:
        reader = JobLogMessageReader()
        with open_pipes_session(
            context=context,
            context_injector=PipesEnvContextInjector(),
            message_reader=reader,
        ) as session:
            env = dict(session.get_bootstrap_env_vars())
            run = run_worker(image, POINTS, {}, pipes_env=env)
            reader.read_log(run.stderr)
        summary = custom_message(session.get_custom_messages(), SUMMARY_MESSAGE_TYPE)
        return run, None if summary is None else dict(summary)

    return in_op(analyse)


def test_analysis_job_completes_without_compiling(images):
    run, summary = _run_in_pipes_session(images["matrix-profile-worker"].tag)

    print(f"worker in its image, {POINTS} points: {run.wall_s:.1f} s wall")
    assert run.exit_code == 0, run.stderr[-3000:]
    assert summary is not None, "no summary came back through Pipes"
    assert summary["points"] >= POINTS
    (report,) = run.reports
    assert report.lstrip().lower().startswith(b"<!doctype html")
    assert run.compiled == 0, "numba compiled in the Job:\n" + run.stdout[-3000:]
    assert run.loaded > 0, "numba never read its cache:\n" + run.stdout[-3000:]
    assert "files copied from /opt/numba-cache to /tmp/numba" in run.stderr
