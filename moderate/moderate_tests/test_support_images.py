"""The one image allow-list check of the ingestion and analysis images."""

import pytest

from moderate.support.images import ImageNotAllowedError, checked_image

DIGEST = "sha256:" + "ab" * 32
INGESTION = "registry.example.org/moderate-openmetadata-ingestion"
WORKER = "localhost:5000/mp"


def _checked(image: str, allowed: list[str]) -> str:
    return checked_image(image, allowed, "IMAGE", "ALLOWLIST")


@pytest.mark.parametrize(
    "image",
    [f"{INGESTION}:2.0.6.0", f"{INGESTION}@{DIGEST}", f"{WORKER}:main"],
)
def test_allow_listed_images_pass(image):
    assert _checked(image, [INGESTION, WORKER]) == image


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("registry.example.org/other:2.0.6.0", [INGESTION]),
        (INGESTION, [INGESTION]),
        (f"{INGESTION}:--privileged", [INGESTION]),
        (f"{INGESTION}:tag; rm -rf /", [INGESTION]),
        ("Registry.example.org/moderate-openmetadata-ingestion:1", [INGESTION]),
        ("evil.example/miner:main", [WORKER]),
        (f"{WORKER}@sha256:short", [WORKER]),
        ("Localhost:5000/MP:main", ["Localhost:5000/MP"]),
        (f"{WORKER}:main", []),
    ],
)
def test_other_images_are_refused(image, allowed):
    with pytest.raises(ImageNotAllowedError):
        _checked(image, allowed)


def test_errors_name_the_settings_to_fix():
    with pytest.raises(ImageNotAllowedError, match=r"change IMAGE$"):
        _checked("no tag", [WORKER])
    with pytest.raises(ImageNotAllowedError, match="add it to ALLOWLIST or change"):
        _checked("evil.example/miner:main", [WORKER])
