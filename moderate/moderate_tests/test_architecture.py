"""The shape docs/architecture.md describes: layers pointing one way, a light load.

Both are read from the code itself: the layering from the import statements
(parsed, not executed), the load from a fresh interpreter.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "moderate"
FEATURES = frozenset({"datasets", "doctor", "matrix_profile", "openmetadata", "trust"})
LOWER_LAYERS = {"resources": 2, "state": 1, "support": 0, "automation": 0, "catalog": 0}
"""Each lower layer imports only layers with a smaller number (``automation`` and
``catalog`` are the two shared top-level modules)."""

FORBIDDEN_AT_LOAD = frozenset(
    {
        "boto3",
        "botocore",
        "dagster_k8s",
        "keycloak",
        "kubernetes",
        "numpy",
        "openpyxl",
        "pandas",
        "pika",
        "polars",
        "pyarrow",
        "requests_toolbelt",
        "sqlalchemy",
        "stumpy",
    }
)
TOP_LEVEL_PROBE = (
    "import json, sys, {module}; "
    "print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}})))"
)


def _loaded_by(module: str) -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", TOP_LEVEL_PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(completed.stdout.strip().splitlines()[-1]))


def test_definitions_load_no_heavy_module() -> None:
    dagster = _loaded_by("dagster")
    definitions = _loaded_by("moderate.definitions")
    assert not definitions & FORBIDDEN_AT_LOAD, sorted(definitions & FORBIDDEN_AT_LOAD)
    extra = {
        name
        for name in definitions - dagster
        if name not in sys.stdlib_module_names
        and not name.startswith("_")
        and name != "moderate"
    }
    assert not extra, sorted(extra)


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "moderate" or len(parts) < 2:
        return None
    return parts[1]


def _imports() -> list[tuple[str, str, str]]:
    """(importing file, its layer, imported layer) for every moderate import."""
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR.parent)
        own = _layer(".".join(relative.with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                target = _layer(name)
                if own and target and target != own:
                    found.append((str(relative), own, target))
    return found


def test_imports_are_found() -> None:
    layers = {(own, target) for _, own, target in _imports()}
    assert ("datasets", "resources") in layers
    assert ("resources", "state") in layers


def test_no_feature_imports_another_feature() -> None:
    crossing = [
        item for item in _imports() if item[1] in FEATURES and item[2] in FEATURES
    ]
    assert not crossing


def test_lower_layers_import_no_feature_and_only_downwards() -> None:
    upward = [
        item
        for item in _imports()
        if item[1] in LOWER_LAYERS
        and (
            item[2] not in LOWER_LAYERS
            or LOWER_LAYERS[item[2]] >= LOWER_LAYERS[item[1]]
        )
    ]
    assert not upward
