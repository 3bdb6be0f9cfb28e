"""Local git repositories shaped like the two dataset sources.

Each source is a working repository plus a bare "remote" beside it; commits
are pushed over a ``file://`` URL, which also copies Git LFS objects into the
bare repository's ``lfs/objects`` so ``git lfs pull`` can fetch them offline.
"""

import os
import shutil
import subprocess
from pathlib import Path

SHARED_DATA = Path(__file__).parent / "data" / "building-stock"
PV_PATH = (
    "T3.1-dynamic-analysis/Case-study-II-III-PV-analysis/data/"
    "v1.0_Data_T3.1_Dynamicanalysis_PVanalysis.csv"
)
WORKBOOK_PATH = (
    "T3.2-static-analysis/data/v1.2_Data_T3.2_Staticanalysis_EU27BuildingStock2020.xlsx"
)
EPC_PATH = (
    "T3.1-dynamic-analysis/Case-study-I-EPCs-classification/data/"
    "v1.0_Data_T3.1_Dynamicanalysis_EPCclassification.csv"
)
EPC_COPY_PATH = (
    "T3.1-dynamic-analysis/Case-study-I-EPCs-classification/Code/data/processed/"
    "data_analysis.csv"
)
SOURCES_PATH = (
    "T3.2-static-analysis/data/v1.2_Data_T3.2_Staticanalysis_EU27BuildingStock2020_"
    "Sources.csv"
)
METER_TYPES = ("electricity", "gas", "water")
BUILDINGS = (
    "Panther_lodging_Dean",
    "Panther_office_Hannah",
    "Fox_education_Wendell",
    "Bear_assembly_Angel",
)
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.org",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.org",
    "GIT_TERMINAL_PROMPT": "0",
}
LFS_AVAILABLE = shutil.which("git-lfs") is not None


def run_git(arguments: list[str], cwd: Path) -> str:
    completed = subprocess.run(
        ["git", *arguments],
        cwd=cwd,
        env={**os.environ, **GIT_IDENTITY},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"git {' '.join(arguments)}: {completed.stderr}")
    return completed.stdout


class SourceRepo:
    """A working repository with a bare remote reachable over ``file://``."""

    def __init__(self, base: Path, branch: str, lfs_patterns: tuple[str, ...] = ()):
        self.work = base / "work"
        self.bare = base / "remote.git"
        self.branch = branch
        self.work.mkdir(parents=True)
        run_git(["init", "--quiet", "--initial-branch", branch], self.work)
        run_git(["init", "--quiet", "--bare", str(self.bare)], base)
        run_git(["remote", "add", "origin", self.url], self.work)
        if lfs_patterns:
            run_git(["lfs", "install", "--local"], self.work)
            for pattern in lfs_patterns:
                run_git(["lfs", "track", pattern], self.work)

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def write(self, relative_path: str, content: bytes | str) -> Path:
        target = self.work / relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content)
        else:
            target.write_bytes(content)
        return target

    def remove(self, relative_path: str) -> None:
        run_git(["rm", "--quiet", relative_path], self.work)

    def commit(self, message: str) -> str:
        run_git(["add", "--all"], self.work)
        run_git(["commit", "--quiet", "--message", message], self.work)
        run_git(["push", "--quiet", "origin", self.branch], self.work)
        return run_git(["rev-parse", "HEAD"], self.work).strip()

    def lfs_objects(self) -> list[Path]:
        root = self.bare / "lfs" / "objects"
        return sorted(path for path in root.rglob("*") if path.is_file())


def meter_csv(rows: int, buildings: tuple[str, ...] = BUILDINGS, seed: int = 0) -> str:
    """A wide BDG2 meter table: hourly timestamps, one column per building.

    The first building has no reading at all in the first 48 hours (many empty
    cells), so type inference must look past the first block.
    """
    lines = ["timestamp," + ",".join(buildings)]
    for hour in range(rows):
        day, clock = divmod(hour, 24)
        stamp = f"2016-01-{day % 28 + 1:02d} {clock:02d}:00:00"
        cells = []
        for index, _ in enumerate(buildings):
            if index == 0 and hour < 48:
                cells.append("")
            else:
                cells.append(f"{(hour * (index + 3) + seed) % 997 / 10:.4f}")
        lines.append(stamp + "," + ",".join(cells))
    return "\n".join(lines) + "\n"


def weather_csv(rows: int) -> str:
    header = (
        "timestamp,site_id,airTemperature,cloudCoverage,dewTemperature,"
        "precipDepth1HR,precipDepth6HR,seaLvlPressure,windDirection,windSpeed"
    )
    lines = [header]
    for hour in range(rows):
        day, clock = divmod(hour, 24)
        lines.append(
            f"2016-01-{day % 28 + 1:02d} {clock:02d}:00:00,Panther,"
            f"{hour % 30 - 5}.5,,{hour % 20 - 8}.0,0.0,,1019.7,{hour % 360},3.1"
        )
    return "\n".join(lines) + "\n"


def metadata_csv() -> str:
    lines = [
        "building_id,site_id,primaryspaceusage,sqm,lat,lng,timezone,electricity,gas"
    ]
    for index, building in enumerate(BUILDINGS):
        site = building.split("_")[0]
        lines.append(
            f"{building},{site},Office,{1000 + index * 10}.5,28.51,-81.37,"
            f"US/Eastern,Yes,{'Yes' if index % 2 else ''}"
        )
    return "\n".join(lines) + "\n"


def genome_project_repo(base: Path, meter_rows: int = 200) -> SourceRepo:
    """A BDG2-shaped repository on ``master`` with every CSV in Git LFS."""
    repo = SourceRepo(base, "master", lfs_patterns=("*.csv",))
    for meter in METER_TYPES:
        repo.write(
            f"data/meters/cleaned/{meter}_cleaned.csv",
            meter_csv(meter_rows, seed=len(meter)),
        )
    repo.write("data/meters/raw/electricity.csv", meter_csv(30))
    repo.write("data/weather/weather.csv", weather_csv(meter_rows))
    repo.write("data/metadata/metadata.csv", metadata_csv())
    repo.write("README.md", "Building Data Genome Project 2 (test copy)\n")
    repo.commit("BDG2-shaped data")
    return repo


def epc_csv(rows: int) -> str:
    lines = ["YEAR_BUILD,ENER_CLASS,summer_temp,winter_temp,summer_b1_max"]
    classes = "ABCDEFG"
    for index in range(rows):
        lines.append(
            f"{1950 + index % 70},{classes[index % 7]},{24 + index % 5}.2,"
            f"{8 + index % 4}.9,{index % 13}.75"
        )
    return "\r\n".join(lines)


def building_stock_repo(base: Path) -> SourceRepo:
    """A building-stock-shaped repository on ``main`` (no Git LFS).

    Holds the real PV-analysis excerpt and reduced workbook from the shared
    data folder, plus generated EPC and sources tables (the EPC table twice,
    byte-identical, like the real repository).
    """
    repo = SourceRepo(base, "main")
    repo.write(PV_PATH, (SHARED_DATA / PV_PATH).read_bytes())
    repo.write(WORKBOOK_PATH, (SHARED_DATA / WORKBOOK_PATH).read_bytes())
    repo.write(EPC_PATH, epc_csv(300))
    repo.write(EPC_COPY_PATH, epc_csv(300))
    repo.write(
        SOURCES_PATH,
        "country,sector,subsector,bage,value,source\n"
        "AT,Residential sector,Total,Before 1945,12.5,Statistik Austria\n"
        "BE,Service sector,Offices,1945 - 1969,3.25,Eurostat\n",
    )
    repo.write("T3.1-dynamic-analysis/README.md", "# Dynamic analysis\n")
    repo.commit("Building-stock-shaped data")
    return repo
