"""``python -m moderate.doctor``: prints the service health table."""

import sys

from moderate.doctor.checks import check_resources, failing, format_reports
from moderate.resources import build_resources


def main() -> int:
    """Prints the health table; exits 1 if a configured service fails its check."""
    reports = check_resources(build_resources())
    print(format_reports(reports))
    return 1 if any(failing(report) for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
