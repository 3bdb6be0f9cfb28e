"""Sensor cursors stored as JSON: read strictly, reset when unreadable."""

from typing import Self

from pydantic import BaseModel, ConfigDict


class JsonCursor(BaseModel):
    """A sensor cursor stored as JSON; what cannot be read gives a fresh one."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    @classmethod
    def read(cls, raw: str | None) -> tuple[Self, str | None]:
        """The stored cursor, or a fresh one and why (None when empty); never raises."""
        if not raw:
            return cls(), None
        try:
            return cls.model_validate_json(raw), None
        except (ValueError, RecursionError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            return cls(), f"unreadable {cls.__name__} reset ({reason})"

    @classmethod
    def parse(cls, raw: str | None) -> Self:
        """The stored cursor, or a fresh one when absent or unreadable."""
        return cls.read(raw)[0]
