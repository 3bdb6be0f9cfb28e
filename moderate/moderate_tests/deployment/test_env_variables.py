"""Every variable the project uses is documented in .env.example.

References are collected from the deployment files (``${VAR}``, ``$VAR`` and
go-task ``{{.VAR}}``; upper-case names only, lower-case names are script locals by
convention) and from the code: the ``ENV_VARS`` of every ``EnvBackedResource``
subclass and every ``EnvVar(...)`` whose name is a literal or a module constant.
"""

import ast
import re
from pathlib import Path

import yaml

import moderate.definitions  # noqa: F401 - registers every resource subclass
from moderate.resources.settings import EnvBackedResource
from moderate_tests.deployment.files import (
    DEPLOY_DIR,
    ENV_DEFAULT,
    ENV_EXAMPLE,
    PROJECT_DIR,
    REPO_ROOT,
    VERSIONS_ENV,
    dotenv_values,
    example_variables,
)

BRACED = re.compile(r"(?<!\$)\$\{!?([A-Z][A-Z0-9_]*)")
BARE = re.compile(r"(?<!\$)\$([A-Z][A-Z0-9_]*)\b")
GO_TEMPLATE = re.compile(r"\{\{\s*\.([A-Z][A-Z0-9_]*)")
VARIABLE_CONSTANT_SUFFIX = "_VARIABLE"

# Variables of the Taskfile's own `vars:` block plus go-task's CLI_ARGS.
TASKFILE_VARIABLES = {"PROJECT_DIR", "VENV_BIN", "PYTHON_SOURCES", "CLI_ARGS"}
# Set by the shell or the system, not by the project.
SHELL_VARIABLES = {
    "BASH_REMATCH",
    "BASH_SOURCE",
    "HOME",
    "PATH",
    "SECONDS",
    "XDG_CACHE_HOME",
}
NOT_ENVIRONMENT = TASKFILE_VARIABLES | SHELL_VARIABLES


def deployment_files() -> list[Path]:
    """Files whose variable references must be documented.

    Python helpers in deploy/ are left out: they read the environment generically
    and their docstrings show placeholder syntax.
    """
    files = [
        *REPO_ROOT.glob("values-*.yaml.template"),
        REPO_ROOT / "docker-compose.yml",
        REPO_ROOT / "Taskfile.yml",
        REPO_ROOT / "Dockerfile",
    ]
    files += [
        path
        for path in DEPLOY_DIR.rglob("*")
        if path.is_file() and path.suffix != ".py" and "__pycache__" not in path.parts
    ]
    return files


DOCKERFILE_ARG = re.compile(r"^ARG\s+([A-Z][A-Z0-9_]*)", re.MULTILINE)


def referenced_in_file(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    names = set(BRACED.findall(text)) | set(BARE.findall(text))
    names |= set(GO_TEMPLATE.findall(text))
    if path.name == "Dockerfile":
        # Build arguments (base images), not settings of the environment.
        names -= set(DOCKERFILE_ARG.findall(text))
    return names - NOT_ENVIRONMENT


def all_subclasses(cls: type) -> set[type]:
    found = set()
    for subclass in cls.__subclasses__():
        found.add(subclass)
        found |= all_subclasses(subclass)
    return found


def resource_variables() -> set[str]:
    names = set()
    for subclass in all_subclasses(EnvBackedResource):
        names.update(subclass.ENV_VARS.values())
    return names


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def env_var_calls(source: str) -> set[str]:
    """Variable names passed to ``EnvVar(...)`` as literals or module constants."""
    tree = ast.parse(source)
    constants = _module_constants(tree)
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        function = node.func
        called = function.attr if isinstance(function, ast.Attribute) else None
        if isinstance(function, ast.Name):
            called = function.id
        if called != "EnvVar":
            continue
        argument = node.args[0]
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            names.add(argument.value)
        elif isinstance(argument, ast.Name) and argument.id in constants:
            names.add(constants[argument.id])
        elif isinstance(argument, ast.Name):
            # A name passed in by the caller: the module's *_VARIABLE constants.
            passed_in = {
                value
                for constant, value in constants.items()
                if constant.endswith(VARIABLE_CONSTANT_SUFFIX)
            }
            assert passed_in, f"cannot tell which variable {ast.unparse(node)} reads"
            names |= passed_in
    return names


def code_variables() -> set[str]:
    names = resource_variables()
    for path in (PROJECT_DIR / "moderate").rglob("*.py"):
        names |= env_var_calls(path.read_text(encoding="utf-8"))
    return names


def lib_code_location_variables() -> set[str]:
    text = (DEPLOY_DIR / "lib.sh").read_text(encoding="utf-8")
    block = re.search(r"code_location_variables=\((.*?)\)", text, re.DOTALL)
    assert block, "code_location_variables not found in deploy/lib.sh"
    return set(block.group(1).split())


def test_every_referenced_variable_is_in_env_example() -> None:
    documented = set(example_variables())
    missing = {}
    for path in deployment_files():
        for name in referenced_in_file(path) - documented:
            missing.setdefault(name, []).append(str(path.relative_to(REPO_ROOT)))
    for name in code_variables() - documented:
        missing.setdefault(name, []).append("moderate/moderate (code)")
    assert not missing, "not in .env.example: " + "; ".join(
        f"{name} ({', '.join(sorted(paths))})"
        for name, paths in sorted(missing.items())
    )


def test_scanner_sees_the_references_it_must_see() -> None:
    sample = 'a: "${ONE}" $TWO {{.THREE}} $${ESCAPED} ${lower} ${!INDIRECT}'
    path_names = set(BRACED.findall(sample)) | set(BARE.findall(sample))
    path_names |= set(GO_TEMPLATE.findall(sample))
    assert path_names == {"ONE", "TWO", "THREE", "INDIRECT"}
    assert env_var_calls(
        'from dagster import EnvVar\nNAME = "FROM_CONSTANT"\n'
        'EnvVar("LITERAL").get_value()\nEnvVar(NAME)\n'
    ) == {"LITERAL", "FROM_CONSTANT"}
    assert env_var_calls(
        'from dagster import EnvVar\nCRON_VARIABLE = "PASSED_IN"\n'
        "def read(variable):\n    return EnvVar(variable).get_value()\n"
    ) == {"PASSED_IN"}
    assert {"POSTGRES_HOST", "KEYCLOAK_SERVER_URL", "RABBIT_URL"} <= code_variables()
    assert "MODERATE_AUTOMATION_DEFAULT_STATUS" in code_variables()


def test_taskfile_allow_list_matches_its_vars_block() -> None:
    taskfile = yaml.safe_load((REPO_ROOT / "Taskfile.yml").read_text(encoding="utf-8"))
    assert set(taskfile["vars"]) == TASKFILE_VARIABLES - {"CLI_ARGS"}


def test_every_example_variable_has_its_own_comment() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    names = example_variables()
    assert len(names) == len(set(names)), "duplicate variables in .env.example"
    for index, line in enumerate(lines):
        if re.match(r"^#\s*[A-Z][A-Z0-9_]*=", line):
            comment = lines[index - 1]
            assert (
                comment.startswith("# ") and "=" not in comment.split()[1]
            ), f"{line} has no description line above it"


def test_default_files_only_set_documented_variables() -> None:
    documented = set(example_variables())
    for path in (ENV_DEFAULT, VERSIONS_ENV):
        undocumented = set(dotenv_values(path)) - documented
        assert not undocumented, f"{path.name}: {sorted(undocumented)}"


# Set by the Dagster chart in every pod, never by the dagster-secrets secret.
CHART_SET_VARIABLES = frozenset({"DAGSTER_HOME"})


def test_code_location_secret_covers_every_variable_the_code_reads() -> None:
    secret_variables = lib_code_location_variables()
    read = code_variables() - CHART_SET_VARIABLES
    assert read <= secret_variables, sorted(read - secret_variables)
    assert secret_variables <= set(example_variables())
