"""``python -m moderate.matrix_profile.worker``."""

from moderate.matrix_profile.worker.cli import main

raise SystemExit(main())
