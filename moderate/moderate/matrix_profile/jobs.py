"""The matrix-profile jobs."""

from dagster import job

from moderate.matrix_profile.hooks import finalise_matrix_profile_job_on_failure
from moderate.matrix_profile.ops import (
    FINALISE_RETRY_POLICY,
    finalise_broken_matrix_profile_run,
    reject_matrix_profile_request,
    report_matrix_profile_result,
    run_matrix_profile_analysis,
)
from moderate.matrix_profile.tags import FEATURE_TAGS


@job(
    name="matrix_profile_job",
    description="Runs one matrix-profile analysis requested through the "
    "'matrix_profile' queue and finalises its platform job with the report or "
    "an error (PATCH /job/{id}).",
    tags=FEATURE_TAGS,
    hooks={finalise_matrix_profile_job_on_failure},
)
def matrix_profile_job() -> None:
    """Worker run, then the terminal PATCH."""
    report_matrix_profile_result(run_matrix_profile_analysis())


@job(
    name="matrix_profile_rejection_job",
    description="Finalises a platform job with an error when its request message "
    "was invalid (the message itself goes to the dead-letter queue).",
    tags=FEATURE_TAGS,
    hooks={finalise_matrix_profile_job_on_failure},
)
def matrix_profile_rejection_job() -> None:
    """The terminal PATCH of a rejected request."""
    reject_matrix_profile_request()


@job(
    name="matrix_profile_finalise_job",
    description="Finalises the platform job of a matrix-profile run that failed or "
    "was cancelled, when the run sensors could not do it at once (API throttled "
    "or down); retried with backoff.",
    tags=FEATURE_TAGS,
    op_retry_policy=FINALISE_RETRY_POLICY,
)
def matrix_profile_finalise_job() -> None:
    """The terminal PATCH of a broken run, retried."""
    finalise_broken_matrix_profile_run()
