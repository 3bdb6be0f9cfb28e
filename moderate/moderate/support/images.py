"""The allow-list check of the container images the code location launches."""

import re
from collections.abc import Sequence

IMAGE_REFERENCE = re.compile(
    r"(?P<repository>[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*)"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})"
)
"""``repository:tag`` or ``repository@sha256:<64 hex>``."""


class ImageNotAllowedError(ValueError):
    """An image reference is malformed or its repository is not allow-listed."""


def checked_image(
    image: str,
    allowed_repositories: Sequence[str],
    image_variables: str,
    allowlist_variable: str,
) -> str:
    """``image`` if it is well formed and from one of ``allowed_repositories``.

    Raises:
        ImageNotAllowedError: Otherwise, naming the settings to fix: those that
            choose the image and the one that lists the allowed repositories.
    """
    match = IMAGE_REFERENCE.fullmatch(image)
    if match is None:
        raise ImageNotAllowedError(
            f"{image!r} is not an image reference with a tag or sha256 digest: "
            f"change {image_variables}"
        )
    if match["repository"] not in allowed_repositories:
        raise ImageNotAllowedError(
            f"image repository {match['repository']!r} is not allow-listed: "
            f"add it to {allowlist_variable} or change {image_variables}"
        )
    return image
