"""List semantics of the Platform API: paging, JSON filters and sorts.

Mirrors how the API turns ``offset``/``limit``/``filters``/``sorts`` into SQL
and how PostgreSQL then behaves: values are re-typed by sniffing, comparisons
with NULL follow three-valued logic, mismatched types are database errors and
rows come back in no particular order unless sorted.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from operator import attrgetter
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from moderate_tests.doubles.http_server import HttpError, HttpRequest

DEFAULT_LIMIT = 100
MAX_LIMIT = 100
DEFAULT_OFFSET = 0

_LIST_PATTERN = re.compile(r"\w+(?:\s*,\s*\w+)+(?!\])")
_DATETIME_PATTERN = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(([+-]\d{2}:\d{2})|Z)?$"
)
_INTEGER_PATTERN = re.compile(r"^\s*[+-]?\d+\s*$")
_WORD_PATTERN = re.compile(r"[0-9a-z]+")
_SCRAMBLE_MULTIPLIER = 0x9E3779B1
_SCRAMBLE_SALT = 0x85EBCA6B
_SCRAMBLE_MASK = 0xFFFFFFFF

Row = TypeVar("Row")


class FieldKind(enum.Enum):
    """Column types that matter for filtering and sorting."""

    INT = "int"
    TEXT = "text"
    DATETIME = "datetime"
    JSON = "json"
    ENUM = "enum"


@dataclass(frozen=True)
class FieldSpec:
    """A filterable column: its kind and, for enums, the accepted values."""

    kind: FieldKind
    choices: frozenset[str] = frozenset()
    unique: bool = False


Schema = Mapping[str, FieldSpec]


def database_error() -> HttpError:
    """The API's answer to any database error other than an integrity one."""
    return HttpError(
        HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Database operation error"}
    )


def unhandled_error() -> HttpError:
    """The API's answer to an unhandled exception (plain text)."""
    return HttpError(
        HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error", plain=True
    )


def validation_error(errors: list[dict[str, Any]]) -> HttpError:
    """A 422 with a request-validation error list, in pydantic v1's shape.

    The real API runs pydantic v1: entries carry ``loc``, ``msg``, ``type``
    (``value_error.missing``, ``type_error.integer``…) and sometimes ``ctx``,
    never ``input``. Errors are written here in v2 terms and converted.
    """
    return HttpError(
        HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": [_v1_error(e) for e in errors]}
    )


_V1_SIMPLE = {
    "missing": ("field required", "value_error.missing"),
    "int_parsing": ("value is not a valid integer", "type_error.integer"),
    "int_type": ("value is not a valid integer", "type_error.integer"),
    "float_parsing": ("value is not a valid float", "type_error.float"),
    "float_type": ("value is not a valid float", "type_error.float"),
    "string_type": ("str type expected", "type_error.str"),
    "bool_parsing": ("value could not be parsed to a boolean", "type_error.bool"),
    "bool_type": ("value could not be parsed to a boolean", "type_error.bool"),
    "dict_type": ("value is not a valid dict", "type_error.dict"),
    "model_type": ("value is not a valid dict", "type_error.dict"),
    "model_attributes_type": ("value is not a valid dict", "type_error.dict"),
    "list_type": ("value is not a valid list", "type_error.list"),
    "json_invalid": (
        "Expecting value: line 1 column 1 (char 0)",
        "value_error.jsondecode",
    ),
}
_V1_BOUNDS = {
    "less_than_equal": ("le", "less than or equal to", "value_error.number.not_le"),
    "greater_than_equal": (
        "ge",
        "greater than or equal to",
        "value_error.number.not_ge",
    ),
    "less_than": ("lt", "less than", "value_error.number.not_lt"),
    "greater_than": ("gt", "greater than", "value_error.number.not_gt"),
}


def _v1_error(error: dict[str, Any]) -> dict[str, Any]:
    kind = str(error.get("type", ""))
    loc = list(error.get("loc", []))
    if kind in _V1_BOUNDS:
        key, words, v1_type = _V1_BOUNDS[kind]
        limit = (error.get("ctx") or {}).get(key)
        return {
            "loc": loc,
            "msg": f"ensure this value is {words} {limit}",
            "type": v1_type,
            "ctx": {"limit_value": limit},
        }
    if kind in _V1_SIMPLE:
        msg, v1_type = _V1_SIMPLE[kind]
        return {"loc": loc, "msg": msg, "type": v1_type}
    message = str(error.get("msg", ""))
    return {
        "loc": loc,
        "msg": message[:1].lower() + message[1:],
        "type": "value_error",
    }


# ------------------------------------------------------------------ paging


@dataclass(frozen=True)
class Paging:
    """Offset and limit of a list call."""

    offset: int
    limit: int


def parse_paging(request: HttpRequest) -> Paging:
    """Reads ``offset`` and ``limit``; 422 like request validation would.

    Raises:
        HttpError: 422 for a non-integer value or a limit over 100.
    """
    errors: list[dict[str, Any]] = []
    offset = _int_query(request, "offset", DEFAULT_OFFSET, errors)
    limit = _int_query(request, "limit", DEFAULT_LIMIT, errors)
    if limit > MAX_LIMIT:
        errors.append(
            {
                "type": "less_than_equal",
                "loc": ["query", "limit"],
                "msg": f"Input should be less than or equal to {MAX_LIMIT}",
                "input": request.query_value("limit"),
                "ctx": {"le": MAX_LIMIT},
            }
        )
    if errors:
        raise validation_error(errors)
    return Paging(offset, limit)


def _int_query(
    request: HttpRequest, name: str, default: int, errors: list[dict[str, Any]]
) -> int:
    raw = request.query_value(name)
    if raw is None:
        return default
    if not _INTEGER_PATTERN.match(raw):
        errors.append(
            {
                "type": "int_parsing",
                "loc": ["query", name],
                "msg": "Input should be a valid integer, unable to parse string as "
                "an integer",
                "input": raw,
            }
        )
        return default
    return int(raw)


# ---------------------------------------------------------- filters, sorts


class CrudFilter(BaseModel):
    """One filter as the API validates it."""

    field: str
    operator: str
    value: str | int | float | None


class CrudSort(BaseModel):
    """One sort as the API validates it."""

    field: str
    order: Literal["asc", "desc"]


@dataclass(frozen=True)
class Filter:
    """One parsed filter with its re-typed value."""

    field: str
    operator: str
    value: Any


@dataclass(frozen=True)
class Sort:
    """One parsed sort."""

    field: str
    descending: bool


def parse_filters(raw: str | None) -> list[Filter]:
    """Parses the ``filters`` JSON; 400 on malformed JSON or shapes.

    Raises:
        HttpError: 400 with the parse error as ``detail``.
    """
    if not raw:
        return []
    models = _parse_models(raw, CrudFilter, ("field", "operator", "value"))
    return [
        Filter(model.field, model.operator, sniff_value(model.value))
        for model in models
    ]


def parse_sorts(raw: str | None) -> list[Sort]:
    """Parses the ``sorts`` JSON; 400 on malformed JSON or shapes.

    Raises:
        HttpError: 400 with the parse error as ``detail``.
    """
    if not raw:
        return []
    models = _parse_models(raw, CrudSort, ("field", "order"))
    return [Sort(model.field, model.order == "desc") for model in models]


M = TypeVar("M", bound=BaseModel)


def _parse_models(raw: str, model: type[M], positional: Sequence[str]) -> list[M]:
    try:
        parsed = json.loads(raw)
        return _models_from(parsed, model, positional)
    except (ValueError, TypeError, ValidationError) as error:
        raise HttpError(HTTPStatus.BAD_REQUEST, {"detail": str(error)}) from error


def _models_from(parsed: Any, model: type[M], positional: Sequence[str]) -> list[M]:
    if isinstance(parsed, list) and not parsed:
        return []
    if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
        parsed = [parsed]
    if not isinstance(parsed, list):
        raise TypeError(f"'{type(parsed).__name__}' object is not iterable")
    models: list[M] = []
    for item in parsed:
        if isinstance(item, list):
            models.append(model(**dict(zip(positional, item, strict=False))))
        elif isinstance(item, dict):
            models.append(model(**item))
        else:
            raise ValueError(f"Unsupported CrudFilter format: {item}")
    return models


# ------------------------------------------------------------------ sniffing


def sniff_value(value: Any) -> Any:
    """Re-types a filter value the way the API does before querying.

    Order: comma-separated word list, JSON list, ISO datetime (offset dropped
    without conversion), int, float, ``true``/``false``, else unchanged.
    List items are re-typed one by one.
    """
    if value is None:
        return None
    sniffed = _sniff_scalar(value)
    if isinstance(sniffed, list):
        return [_sniff_scalar(item) for item in sniffed]
    return sniffed


def _sniff_scalar(value: Any) -> Any:
    if isinstance(value, str):
        return _sniff_string(value)
    if isinstance(value, bool | int | float):
        try:
            return int(value)
        except (OverflowError, ValueError):
            return value
    return value


def _sniff_string(value: str) -> Any:
    as_list = _sniff_list(value)
    if as_list is not None:
        return as_list
    if _DATETIME_PATTERN.match(value):
        try:
            return datetime.fromisoformat(value).replace(tzinfo=None)
        except ValueError:
            pass
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return value


def _sniff_list(value: str) -> list[Any] | None:
    if _LIST_PATTERN.match(value):
        try:
            return list(json.loads(f"[{value}]"))
        except json.JSONDecodeError:
            pass
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, list) else None


# ------------------------------------------------------------------ matching


def _check_field(schema: Schema, name: str) -> FieldSpec:
    spec = schema.get(name)
    if spec is None:
        raise unhandled_error()
    return spec


def _check_comparable(spec: FieldSpec, value: Any) -> None:
    if value is None:
        return
    compatible = {
        FieldKind.INT: isinstance(value, int),
        FieldKind.TEXT: isinstance(value, str),
        FieldKind.ENUM: isinstance(value, str) and value in spec.choices,
        FieldKind.DATETIME: isinstance(value, datetime),
        FieldKind.JSON: False,
    }[spec.kind]
    if not compatible:
        raise database_error()


def _tokens(value: Any) -> set[str]:
    if isinstance(value, dict | list):
        text = json.dumps(value)
    elif isinstance(value, datetime):
        text = value.isoformat(sep=" ")
    else:
        text = str(value)
    return set(_WORD_PATTERN.findall(text.lower()))


def _in_matcher(values: list[Any], negate: bool) -> Callable[[Any], bool]:
    present = [value for value in values if value is not None]
    if negate and len(present) != len(values):
        return lambda column: False
    if negate:
        return lambda column: column is not None and column not in present
    return lambda column: column is not None and column in present


def _contains_matcher(value: Any) -> Callable[[Any], bool]:
    wanted = _tokens(value)
    return lambda column: (
        column is not None and bool(wanted) and wanted <= _tokens(column)
    )


def _comparison_matcher(operator: str, value: Any) -> Callable[[Any], bool]:
    if value is None:
        if operator == "eq":
            return lambda column: column is None
        if operator == "ne":
            return lambda column: column is not None
        return lambda column: False
    compare: Callable[[Any, Any], bool] = {
        "eq": lambda left, right: left == right,
        "ne": lambda left, right: left != right,
        "lt": lambda left, right: left < right,
        "gt": lambda left, right: left > right,
        "lte": lambda left, right: left <= right,
        "gte": lambda left, right: left >= right,
    }[operator]
    return lambda column: column is not None and compare(column, value)


COMPARISON_OPERATORS = frozenset({"eq", "ne", "lt", "gt", "lte", "gte"})
LIST_OPERATORS = frozenset({"in", "nin"})
ALL_OPERATORS = COMPARISON_OPERATORS | LIST_OPERATORS | {"contains"}


def _matcher(spec: FieldSpec, flt: Filter) -> Callable[[Any], bool]:
    if flt.operator not in ALL_OPERATORS:
        raise unhandled_error()
    if flt.operator == "contains":
        return _contains_matcher(flt.value)
    if flt.operator in LIST_OPERATORS:
        if not isinstance(flt.value, list):
            raise unhandled_error()
        for item in flt.value:
            _check_comparable(spec, item)
        return _in_matcher(flt.value, negate=flt.operator == "nin")
    _check_comparable(spec, flt.value)
    return _comparison_matcher(flt.operator, flt.value)


# ------------------------------------------------------------------ ordering


def scramble(row_id: int, salt: int) -> int:
    """A deterministic pseudo-random rank: the order of an unsorted query.

    It depends on the table's change counter, so the "natural" order moves
    when rows change, as a heap table's does.
    """
    mixed = (row_id * _SCRAMBLE_MULTIPLIER) ^ (salt * _SCRAMBLE_SALT)
    return (mixed * _SCRAMBLE_MULTIPLIER) & _SCRAMBLE_MASK


def _sorted_rows(rows: list[Row], sort: Sort) -> list[Row]:
    """Stable sort; NULLs last ascending and first descending, as PostgreSQL."""
    value_of = attrgetter(sort.field)
    present = [row for row in rows if value_of(row) is not None]
    nulls = [row for row in rows if value_of(row) is None]
    present.sort(key=value_of, reverse=sort.descending)
    return nulls + present if sort.descending else present + nulls


# ------------------------------------------------------------------- query


@dataclass(frozen=True)
class ListQuery:
    """A parsed list call."""

    paging: Paging
    filters: list[Filter]
    sorts: list[Sort]

    @classmethod
    def from_request(cls, request: HttpRequest, paging: Paging) -> ListQuery:
        """Parses filters and sorts (400) to go with already parsed paging."""
        filters = parse_filters(request.query_value("filters"))
        sorts = parse_sorts(request.query_value("sorts"))
        return cls(paging, filters, sorts)

    def run(
        self,
        rows: Sequence[Row],
        schema: Schema,
        *,
        natural_order: Callable[[Row], int],
    ) -> list[Row]:
        """Filters, orders and pages ``rows`` (records with attribute fields).

        Raises:
            HttpError: 500 for an unknown field or operator (plain text), or
                for a value the column type rejects (database error).
        """
        selected = list(rows)
        for flt in self.filters:
            match = _matcher(_check_field(schema, flt.field), flt)
            value_of = attrgetter(flt.field)
            selected = [row for row in selected if match(value_of(row))]
        specs = [_check_field(schema, sort.field) for sort in self.sorts]
        if any(spec.kind is FieldKind.JSON for spec in specs):
            raise database_error()
        if not any(spec.unique for spec in specs):
            selected.sort(key=natural_order)
        for sort in reversed(self.sorts):
            selected = _sorted_rows(selected, sort)
        if self.paging.offset < 0 or self.paging.limit < 0:
            raise database_error()
        start = self.paging.offset
        return selected[start : start + self.paging.limit]
