"""Run-time settings shared by every resource, read when used, never at import.

An empty field falls back to its ``ENV_VARS`` variable. Secrets are
environment-only, and run config may set no resource field beyond
``RUN_CONFIGURABLE_FIELDS``: it could point a resource, and its secret, elsewhere.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from dagster import ConfigurableResource, EnvVar, Failure, InitResourceContext

RUN_CONFIGURABLE_FIELDS: Mapping[str, frozenset[str]] = {
    "state_store": frozenset({"database"}),
}
"""Resource fields run config may set: a database on the deployment's server."""
RUN_CONFIG_REFUSED = (
    "run config may not configure resources ({names}): resources take their "
    "settings from the deployment's environment only"
)
DETAIL_CHARS = 300


class ServiceNotConfiguredError(Failure):
    """A resource is used while settings are missing: a one-line, final ``Failure``."""

    def __init__(self, service: str, missing_variables: Sequence[str]) -> None:
        self.service = service
        self.missing_variables = tuple(missing_variables)
        names = ", ".join(self.missing_variables)
        super().__init__(
            description=f"{service} is not configured: set {names}",
            metadata={"service": service, "missing_variables": names},
            allow_retries=False,
        )


class NotUsableError(RuntimeError):
    """The service answers, but the configured account cannot do the work."""


@dataclass(frozen=True)
class HealthReport:
    """Outcome of a resource health check (``reachable``, ``usable``: None if untried).

    ``usable`` is False when the service answered but the account cannot do the work.
    """

    service: str
    configured: bool = True
    missing_variables: tuple[str, ...] = ()
    reachable: bool | None = None
    detail: str = ""
    usable: bool | None = None

    @property
    def healthy(self) -> bool:
        """Whether the service is configured, answered and is usable."""
        return self.configured and bool(self.reachable) and self.usable is not False


def configured_resources(run_config: Mapping[str, Any]) -> tuple[str, ...]:
    """Sorted keys of the resources ``run_config`` configures (allowed fields aside)."""
    section = run_config.get("resources") or {}
    if not isinstance(section, Mapping):
        return ()
    refused: list[str] = []
    for key, value in section.items():
        config = value.get("config") if isinstance(value, Mapping) else value
        if config in (None, {}):
            continue
        allowed = RUN_CONFIGURABLE_FIELDS.get(str(key), frozenset())
        if not isinstance(config, Mapping) or set(config) - allowed:
            refused.append(str(key))
    return tuple(sorted(refused))


class EnvBackedResource(ConfigurableResource):
    """Base class of resources whose empty fields fall back to the environment.

    Subclasses declare ``SERVICE_NAME``, ``ENV_VARS`` (setting to variable),
    ``REQUIRED_FIELDS``, ``DEFAULTS`` and ``SECRETS`` (environment only).
    """

    SERVICE_NAME: ClassVar[str] = "service"
    ENV_VARS: ClassVar[Mapping[str, str]] = {}
    REQUIRED_FIELDS: ClassVar[tuple[str, ...]] = ()
    DEFAULTS: ClassVar[Mapping[str, str]] = {}
    SECRETS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **data: Any) -> None:
        """Builds the resource; a secret given as a field raises TypeError."""
        secrets = sorted(set(data) & set(self.SECRETS))
        if secrets:
            names = ", ".join(self.ENV_VARS[name] for name in secrets)
            raise TypeError(
                f"{self.SERVICE_NAME}: {', '.join(secrets)} cannot be set as a field; "
                f"set {names} in the environment"
            )
        super().__init__(**data)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Fails (``Failure``) a run whose run config configures resources."""
        run = context.dagster_run
        names = ", ".join(configured_resources(run.run_config) if run else ())
        if names:
            raise Failure(
                description=RUN_CONFIG_REFUSED.format(names=names),
                metadata={"resources": names},
            )

    def setting(self, field: str) -> str | None:
        """A setting: its field (none for a secret), else its variable or default."""
        value = None if field in self.SECRETS else getattr(self, field)
        if value in (None, ""):
            value = EnvVar(self.ENV_VARS[field]).get_value()
        return self.DEFAULTS.get(field) if value in (None, "") else str(value)

    def required_setting(self, field: str) -> str:
        """A setting that must have a value.

        Raises:
            ServiceNotConfiguredError: Naming every missing required variable, or
                this setting's variable.
        """
        missing = self.missing_variables()
        value = self.setting(field)
        if missing or value is None:
            raise ServiceNotConfiguredError(
                self.SERVICE_NAME, missing or [self.ENV_VARS[field]]
            )
        return value

    def int_setting(self, field: str) -> int:
        """A setting as ``int`` (0 when unset); ValueError never echoes the value."""
        raw = self.setting(field)
        try:
            return int(raw) if raw is not None else 0
        except ValueError:
            raise ValueError(
                f"{self.ENV_VARS[field]} must be an integer for {self.SERVICE_NAME}"
            ) from None

    def missing_variables(self) -> tuple[str, ...]:
        """Names of the required environment variables that have no value."""
        return tuple(
            self.ENV_VARS[field]
            for field in self.REQUIRED_FIELDS
            if self.setting(field) is None
        )

    def is_configured(self) -> bool:
        """Whether every required setting has a value."""
        return not self.missing_variables()

    def not_configured_reason(self) -> str:
        """A sentence naming the missing variables (for sensor skip reasons)."""
        return str(
            ServiceNotConfiguredError(self.SERVICE_NAME, self.missing_variables())
        )

    def health_check(self) -> HealthReport:
        """Checks configuration and reachability; subclasses add the probe."""
        service = self.SERVICE_NAME
        missing = self.missing_variables()
        if missing:
            return HealthReport(service, False, missing, detail="not configured")
        try:
            detail = self._probe()
        except NotUsableError as error:
            reason = f"not usable: {_first_line(error)}"
            return HealthReport(service, reachable=True, detail=reason, usable=False)
        except Exception as error:  # noqa: BLE001 - a probe reports any failure
            reason = f"{type(error).__name__}: {_first_line(error)}"
            return HealthReport(service, reachable=False, detail=reason)
        return HealthReport(service, reachable=True, detail=detail, usable=True)

    @abstractmethod
    def _probe(self) -> str:
        """Contacts the service once and returns a short description."""


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:DETAIL_CHARS] if lines else ""
