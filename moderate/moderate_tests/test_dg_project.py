"""The ``dg`` CLI sees the project through ``[tool.dg]`` and loads every definition."""

import os
import subprocess
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
VENV = PROJECT_DIR / ".venv"
DG_TIMEOUT_SECONDS = 300


def _dg(*arguments: str, extra_env: dict[str, str] | None = None) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MODERATE_")
    }
    env.update({"VIRTUAL_ENV": str(VENV), **(extra_env or {})})
    completed = subprocess.run(
        [str(VENV / "bin" / "dg"), *arguments],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=DG_TIMEOUT_SECONDS,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    return output


def test_dg_check_defs_loads_the_code_location():
    output = _dg("check", "defs")
    assert "All definitions loaded successfully" in output
    assert "does not match the virtual environment" not in output


def test_dg_lists_every_job():
    output = _dg("list", "defs", "--json")
    for job in ("datasets_job", "doctor_job", "matrix_profile_job"):
        assert job in output
