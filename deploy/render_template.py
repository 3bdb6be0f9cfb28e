"""Renders a ``*.template`` file by substituting ``${NAME}`` from the environment.

Used by the Taskfile for the Helm values files and the Kubernetes manifests, and by
the tests, so what is tested is what is deployed. Rules:

* every ``${NAME}`` (upper-case name) must be set and non-empty, otherwise the
  script fails naming every missing variable at once;
* a placeholder inside a double-quoted YAML scalar is escaped for that context, so
  passwords with quotes or backslashes stay valid YAML;
* a placeholder outside quotes (a port number, say) only accepts a plain token.

Usage: ``python3 deploy/render_template.py TEMPLATE [--output FILE]``. The output
file is created with mode 0600 because rendered values hold passwords.
"""

import argparse
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
PLAIN_TOKEN = re.compile(r"^[A-Za-z0-9._:/@-]+$")
OUTPUT_MODE = 0o600


class TemplateError(ValueError):
    """Raised when a template cannot be rendered with the given variables."""


def placeholders(text: str) -> list[str]:
    """Names of the variables a template refers to, in order of first use.

    Args:
        text: Template text.

    Returns:
        Unique variable names.
    """
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def _inside_double_quotes(line: str, position: int) -> bool:
    quoted = False
    escaped = False
    for character in line[:position]:
        if escaped:
            escaped = False
        elif character == "\\" and quoted:
            escaped = True
        elif character == '"':
            quoted = not quoted
    return quoted


def _escape_double_quoted(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
    )


def render(text: str, variables: Mapping[str, str]) -> str:
    """Substitutes every placeholder of a template.

    Args:
        text: Template text.
        variables: Variable values (usually ``os.environ``).

    Returns:
        The rendered text.

    Raises:
        TemplateError: Naming every missing variable, or a value that cannot be
            placed outside quotes.
    """
    missing = [name for name in placeholders(text) if not variables.get(name)]
    if missing:
        raise TemplateError("unset variables: " + ", ".join(missing))
    rendered_lines = []
    for line in text.splitlines(keepends=True):
        pieces = []
        cursor = 0
        for match in PLACEHOLDER.finditer(line):
            name = match.group(1)
            value = variables[name]
            if _inside_double_quotes(line, match.start()):
                value = _escape_double_quoted(value)
            elif not PLAIN_TOKEN.match(value):
                raise TemplateError(
                    f"{name} is used outside quotes and must be a plain token"
                )
            pieces.append(line[cursor : match.start()])
            pieces.append(value)
            cursor = match.end()
        pieces.append(line[cursor:])
        rendered_lines.append("".join(pieces))
    return "".join(rendered_lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments without the program name (defaults to ``sys.argv``).

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("--output", type=Path, help="file to write (default stdout)")
    arguments = parser.parse_args(argv)
    try:
        rendered = render(arguments.template.read_text(encoding="utf-8"), os.environ)
    except TemplateError as error:
        print(f"{arguments.template}: {error}", file=sys.stderr)
        return 1
    if arguments.output is None:
        sys.stdout.write(rendered)
        return 0
    descriptor = os.open(
        arguments.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OUTPUT_MODE
    )
    with os.fdopen(descriptor, "w", encoding="utf-8") as output:
        output.write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
