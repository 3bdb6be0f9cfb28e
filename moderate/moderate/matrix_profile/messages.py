"""Analysis requests as the Platform API publishes them (CONTRACT §4).

The parser is total and linear in a capped size: limits are checked before
``json.loads`` (size, nesting), while it parses (integer length, duplicate
fields, constants) and after (field types, lengths, characters, ranges).
"""

import hashlib
import json
import re
from dataclasses import dataclass
from itertools import accumulate

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

IGNORED_IMAGE_FIELDS = ("image", "tag")
MAX_BODY_BYTES = 32 * 1024
MAX_NESTING_DEPTH = 16
MAX_INTEGER_DIGITS = 19
# The API's job ids are PostgreSQL ``integer`` primary keys; AMQP headers carry
# signed 64-bit integers, so every accepted id also fits a header.
MAX_WORKFLOW_JOB_ID = 2**31 - 1
MAX_ANALYSIS_VARIABLE_CHARS = 512
MAX_OBJECT_KEY_BYTES = 1024
MAX_REASON_CHARS = 1000
S3_BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
RUN_KEY_PREFIX = "mp-"
DEAD_LETTER_ID_PREFIX = "mp-dead-letter-"
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_OPENING = frozenset(b"[{")
_NOT_BRACKETS = bytes(value for value in range(256) if value not in b"[]{}")


class MatrixProfileMessage(BaseModel):
    """One analysis request; unknown fields (also old ``image``, ``tag``) ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    workflow_job_id: StrictInt = Field(gt=0, le=MAX_WORKFLOW_JOB_ID)
    analysis_variable: StrictStr = Field(
        min_length=1, max_length=MAX_ANALYSIS_VARIABLE_CHARS
    )
    bucket: StrictStr = Field(pattern=S3_BUCKET_PATTERN)
    key: StrictStr = Field(min_length=1, max_length=MAX_OBJECT_KEY_BYTES)

    @field_validator("analysis_variable", "key")
    @classmethod
    def _printable_utf8(cls, value: str) -> str:
        if _CONTROL_CHARACTERS.search(value):
            raise ValueError("contains control characters")
        try:
            encoded = value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError("contains an unpaired surrogate") from error
        if len(encoded) > MAX_OBJECT_KEY_BYTES:
            raise ValueError(f"longer than {MAX_OBJECT_KEY_BYTES} bytes in UTF-8")
        return value


@dataclass(frozen=True)
class ParsedMessage:
    """A valid ``message``, or the ``reason`` it is not (with any valid job id)."""

    message: MatrixProfileMessage | None
    reason: str | None
    workflow_job_id: int | None = None
    ignored_fields: tuple[str, ...] = ()


class _RejectedBodyError(ValueError):
    """Raised from inside ``json.loads`` hooks: the body breaks a limit."""


def parse_message(body: bytes) -> ParsedMessage:
    """The request in a raw message body, or why it is rejected; never raises."""
    reason = _structure_reason(body)
    if reason is not None:
        return ParsedMessage(None, reason)
    try:
        payload = json.loads(
            body.decode("utf-8"),
            parse_int=_bounded_int,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_fields,
        )
    except UnicodeDecodeError:
        return ParsedMessage(None, "body is not UTF-8")
    except _RejectedBodyError as error:
        return ParsedMessage(None, str(error))
    except json.JSONDecodeError as error:
        return ParsedMessage(None, f"body is not JSON: {error.msg}")
    if not isinstance(payload, dict):
        return ParsedMessage(None, "body is not a JSON object")
    job_id = payload.get("workflow_job_id")
    if type(job_id) is not int or not 0 < job_id <= MAX_WORKFLOW_JOB_ID:
        job_id = None  # also a bool, which is an int subclass
    fields = MatrixProfileMessage.model_fields
    ignored = tuple(sorted(name for name in payload if name not in fields))
    try:
        message = MatrixProfileMessage.model_validate(payload)
    except ValidationError as error:
        return ParsedMessage(None, _validation_reason(error), job_id, ignored)
    return ParsedMessage(message, None, message.workflow_job_id, ignored)


def analysis_run_key(workflow_job_id: int) -> str:
    """Run key shared by a job's analysis and rejection: one terminal run per job."""
    return f"{RUN_KEY_PREFIX}{workflow_job_id}"


def dead_letter_id(body: bytes, original_message_id: str | None) -> str:
    """A stable ``mp-dead-letter-<sha256>`` of the AMQP ``message_id`` and body."""
    digest = hashlib.sha256()
    digest.update((original_message_id or "").encode("utf-8", "replace"))
    digest.update(b"\x00")
    digest.update(body)
    return f"{DEAD_LETTER_ID_PREFIX}{digest.hexdigest()}"


def _structure_reason(body: bytes) -> str | None:
    """Size and nesting limits, checked in linear time before parsing."""
    if len(body) > MAX_BODY_BYTES:
        return f"body is larger than {MAX_BODY_BYTES} bytes"
    outside_strings = b"".join(
        body.replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')[::2]
    )
    brackets = outside_strings.translate(None, delete=_NOT_BRACKETS)
    depth = max(
        accumulate(1 if value in _OPENING else -1 for value in brackets), default=0
    )
    if depth > MAX_NESTING_DEPTH:
        return f"body nests deeper than {MAX_NESTING_DEPTH} levels"
    return None


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _RejectedBodyError(
            f"an integer has more than {MAX_INTEGER_DIGITS} digits"
        )
    return int(text)


def _refuse_constant(name: str) -> float:
    raise _RejectedBodyError(f"body is not JSON: {name} is not a JSON value")


def _unique_fields(pairs: list[tuple[str, object]]) -> dict[str, object]:
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise _RejectedBodyError("body repeats a field name")
    return fields


def _validation_reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(piece) for piece in item["loc"]) or "body"
        parts.append(f"{location}: {item['msg']}")
    return ("invalid fields: " + "; ".join(parts))[:MAX_REASON_CHARS]
