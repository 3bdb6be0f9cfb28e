"""Analysis requests as the Platform API publishes them (CONTRACT §4)."""

import json
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

IGNORED_IMAGE_FIELDS = ("image", "tag")
MAX_ANALYSIS_VARIABLE_CHARS = 512
MAX_OBJECT_KEY_CHARS = 1024
MAX_BUCKET_CHARS = 255
MAX_REASON_CHARS = 1000
RUN_KEY_PREFIX = "mp-"
REJECTED_RUN_KEY_SUFFIX = "-rejected"


class MatrixProfileMessage(BaseModel):
    """One analysis request.

    Unknown fields are ignored. ``image`` and ``tag``, which older deployments
    honoured, are never used: the image comes from configuration only.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)

    workflow_job_id: StrictInt = Field(gt=0)
    analysis_variable: str = Field(min_length=1, max_length=MAX_ANALYSIS_VARIABLE_CHARS)
    bucket: str = Field(min_length=3, max_length=MAX_BUCKET_CHARS)
    key: str = Field(min_length=1, max_length=MAX_OBJECT_KEY_CHARS)


@dataclass(frozen=True)
class ParsedMessage:
    """Outcome of reading one message body.

    Attributes:
        message: The valid request, or None.
        reason: Why the body was rejected (None when valid).
        workflow_job_id: The job id when it could be read, even from an
            invalid body.
        ignored_fields: Names of fields that were present but ignored.
    """

    message: MatrixProfileMessage | None
    reason: str | None
    workflow_job_id: int | None
    ignored_fields: tuple[str, ...]


def parse_message(body: bytes) -> ParsedMessage:
    """Validates a raw message body.

    Args:
        body: The message body as received.

    Returns:
        The parsed request, or the rejection reason with any readable job id.
    """
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return ParsedMessage(None, "body is not UTF-8", None, ())
    except json.JSONDecodeError as error:
        return ParsedMessage(None, f"body is not JSON: {error.msg}", None, ())
    if not isinstance(payload, dict):
        return ParsedMessage(None, "body is not a JSON object", None, ())
    job_id = readable_job_id(payload)
    ignored = tuple(
        sorted(
            name for name in payload if name not in MatrixProfileMessage.model_fields
        )
    )
    try:
        message = MatrixProfileMessage.model_validate(payload)
    except ValidationError as error:
        return ParsedMessage(None, _validation_reason(error), job_id, ignored)
    return ParsedMessage(message, None, message.workflow_job_id, ignored)


def readable_job_id(payload: dict[str, object]) -> int | None:
    """The ``workflow_job_id`` of a payload when it is a positive integer."""
    value = payload.get("workflow_job_id")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def analysis_run_key(workflow_job_id: int) -> str:
    """Run key of the analysis of one job: redeliveries map to the same run."""
    return f"{RUN_KEY_PREFIX}{workflow_job_id}"


def rejection_run_key(workflow_job_id: int) -> str:
    """Run key of the run that finalises a job whose message was invalid."""
    return f"{RUN_KEY_PREFIX}{workflow_job_id}{REJECTED_RUN_KEY_SUFFIX}"


def _validation_reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(piece) for piece in item["loc"]) or "body"
        parts.append(f"{location}: {item['msg']}")
    return ("invalid fields: " + "; ".join(parts))[:MAX_REASON_CHARS]
