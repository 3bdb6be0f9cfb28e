"""A workflow whose stop() raises still reports, and never hides an earlier error."""

import json
import subprocess
import textwrap

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import run_workflow

    class Workflow:
        def stop(self):
            raise RuntimeError("connection pool already closed")

    results = {}
    for earlier in ("success", "failed"):
        summary = run_workflow.WorkflowSummary(
            workflow="metadata", pipeline_fqn="s.metadata", package_version="x",
            status=earlier, error_summary="source unreachable" if earlier == "failed"
            else None,
        )
        run_workflow._stop(Workflow(), summary, lambda line: None)
        results[earlier] = [summary.status, summary.error_summary]
    print(json.dumps(results))
    """)


def test_failing_stop_is_reported_without_hiding_the_run_error(
    ingestion_python, runner_script
):
    completed = subprocess.run(
        [str(ingestion_python), "-c", SCRIPT, str(runner_script.parent)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    assert results["success"][0] == "failed"
    assert "connection pool already closed" in results["success"][1]
    assert results["failed"] == ["failed", "source unreachable"]
