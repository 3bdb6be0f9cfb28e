"""Resources whose secrets are given by the test instead of the environment.

Secrets are no resource fields (they come from the environment only), so a test
that needs two accounts at once, or a plain helper without ``monkeypatch``, builds
its resource from a subclass that carries the secret values. Dagster re-creates a
resource from its class and fields, so the values survive run initialisation.
"""

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from moderate.resources.settings import EnvBackedResource

R = TypeVar("R", bound=EnvBackedResource)
_CLASSES: dict[tuple[type, tuple[tuple[str, str], ...]], type] = {}


def resource_with_secrets(
    resource_cls: type[R], secrets: Mapping[str, str], **fields: Any
) -> R:
    """An instance of ``resource_cls`` whose secret settings are ``secrets``.

    Args:
        resource_cls: A resource class.
        secrets: Secret setting name (e.g. ``password``) to value.
        **fields: The resource's ordinary fields.
    """
    unknown = set(secrets) - set(resource_cls.SECRETS)
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not secrets of {resource_cls}")
    key = (resource_cls, tuple(sorted(secrets.items())))
    cls = _CLASSES.get(key)
    if cls is None:
        cls = type(
            resource_cls.__name__,
            (resource_cls,),
            {
                "__module__": __name__,
                "__annotations__": {"SECRET_VALUES": ClassVar[dict[str, str]]},
                "SECRET_VALUES": dict(secrets),
                "setting": _setting,
            },
        )
        _CLASSES[key] = cls
    return cls(**fields)


def _setting(self: Any, field: str) -> str | None:
    if field in self.SECRET_VALUES:
        return str(self.SECRET_VALUES[field])
    return super(type(self), self).setting(field)
