"""The analysis reports, declared so each delivered report shows up in the catalog."""

from dagster import AssetKey, AssetMaterialization, AssetObservation, AssetSpec

MATRIX_PROFILE_REPORTS_KEY = AssetKey("matrix_profile_reports")

matrix_profile_reports = AssetSpec(
    MATRIX_PROFILE_REPORTS_KEY,
    group_name="matrix_profile",
    description="HTML matrix-profile reports in the job-outputs bucket. Each "
    "finalised analysis records a materialization (success: the report's key) or an "
    "observation (failure: the error and the log's key).",
    kinds={"s3", "html"},
    tags={"feature": "matrix_profile"},
)


def report_event(
    workflow_job_id: int, results: dict[str, object]
) -> AssetMaterialization | AssetObservation:
    """The catalog event of one finalised platform job.

    Args:
        workflow_job_id: The platform job.
        results: The ``results`` sent with ``PATCH /job/{id}``.

    Returns:
        A materialization for a delivered report, else an observation.
    """
    metadata = {
        "workflow_job_id": workflow_job_id,
        "output_bucket": str(results.get("output_bucket")),
    }
    if results.get("error") is None:
        return AssetMaterialization(
            MATRIX_PROFILE_REPORTS_KEY,
            metadata={**metadata, "output_key": str(results.get("output_key"))},
        )
    return AssetObservation(
        MATRIX_PROFILE_REPORTS_KEY,
        metadata={
            **metadata,
            "error": str(results.get("error")),
            "error_logs_key": str(results.get("error_logs_key")),
        },
    )
