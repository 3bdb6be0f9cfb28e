"""Lists every variable of .env.example as set or unset; never prints values."""

import os
import re
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")


def main() -> int:
    """Prints one line per variable: its name and whether it has a value.

    Returns:
        The exit status.
    """
    names = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            names.append(match.group(1))
    width = max(len(name) for name in names)
    for name in names:
        state = "set" if os.environ.get(name) else "unset"
        print(f"{name.ljust(width)}  {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
