"""Fixtures of the image tests: the engine, and the three images built once."""

from collections.abc import Iterator

import pytest

from moderate_tests.images.docker import TARGETS, BuiltImage, build, engine_problem

MIB = 1024 * 1024
# The first image test also builds the three images (minutes on 2 cores), and
# every container start copies its image on vfs.
IMAGE_TEST_TIMEOUT_S = 2400


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "moderate_tests/images/test_image_" in item.nodeid:
            item.add_marker(pytest.mark.image)
            item.add_marker(pytest.mark.timeout(IMAGE_TEST_TIMEOUT_S))


@pytest.fixture(scope="session")
def images() -> Iterator[dict[str, BuiltImage]]:
    """The three targets, built from this checkout (sizes and times printed)."""
    problem = engine_problem()
    if problem is not None:
        pytest.fail(problem)
    built = {target: build(target) for target in TARGETS}
    for image in built.values():
        print(
            f"image {image.target}: {image.size_bytes / MIB:.0f} MiB, "
            f"built in {image.build_s:.0f} s"
        )
    yield built
