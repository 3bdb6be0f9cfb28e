"""Tags the matrix-profile definitions and runs carry."""

FEATURE_TAGS = {"moderate/feature": "matrix_profile"}
WORKFLOW_JOB_ID_TAG = "moderate/workflow-job-id"
BROKEN_RUN_ID_TAG = "moderate/broken-run-id"
