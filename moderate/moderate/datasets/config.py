"""Settings of the dataset sources and the run config of the dataset assets.

Defaults follow the public repositories as they are published today: the
MODERATE building-stock analysis repository (no Git LFS) and the Building Data
Genome Project 2 repository (every CSV behind Git LFS).
"""

from dagster import Config
from pydantic import Field

from moderate.datasets.profile import CSV_BLOCK_SIZE_MIB

BUILDING_STOCK_SOURCE = "building_stock"
GENOME_PROJECT_SOURCE = "genome_project"
REF_MAX_CHARS = 200
REF_FIELD_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._/-]{{0,{REF_MAX_CHARS - 1}}}$"
STAGING_PREFIX_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}(/[a-z0-9][a-z0-9_-]{0,62}){0,7}$"
"""Key folders of lower-case names: no empty, dot or absolute part."""


class FileReadOptions(Config):
    """How to read the CSV files whose repository path matches ``glob``.

    The first entry whose glob matches a file wins; files that no entry
    matches are read as comma-separated UTF-8 with a header on the first line.
    """

    glob: str = Field(description="Glob on the path relative to the repository.")
    skip_rows: int = Field(
        default=0, ge=0, description="Lines before the header (e.g. a title line)."
    )
    separator: str = Field(
        default=",", min_length=1, max_length=1, description="Field separator."
    )
    decimal: str = Field(
        default=".", min_length=1, max_length=1, description="Decimal mark."
    )
    encoding: str = Field(default="utf-8", description="Text encoding.")
    null_values: list[str] = Field(
        default_factory=lambda: [""],
        description="Cell texts read as missing values.",
    )


class KeyColumnRule(Config):
    """Columns every dataset read from a matching file must have."""

    glob: str = Field(description="Glob on the path relative to the repository.")
    columns: list[str] = Field(description="Required column names.")


class PrepareConfig(Config):
    """Run config of ``prepared_datasets``: overrides of the partition's source.

    Every field left empty takes the source's default (see
    :data:`SOURCE_DEFAULTS`), so a backfill of several sources needs no config.
    """

    repo_url: str | None = Field(
        default=None,
        min_length=1,
        description="HTTPS URL of an allowed host (MODERATE_DATASETS_GIT_HOSTS); "
        "local repositories only where MODERATE_DATASETS_ALLOW_LOCAL_REPOSITORIES "
        "is set.",
    )
    ref: str | None = Field(
        default=None,
        pattern=REF_FIELD_PATTERN,
        description="Branch, tag or full commit SHA to publish (never an option).",
    )
    globs: list[str] | None = Field(
        default=None, description="Globs (with **) on repository-relative paths."
    )
    read_options: list[FileReadOptions] | None = Field(
        default=None, description="Per-file CSV read options."
    )
    key_columns: list[KeyColumnRule] | None = Field(
        default=None, description="Columns the checks require per file."
    )
    clone_timeout_s: int = Field(
        default=1800, gt=0, description="Limit per git command."
    )
    csv_block_size_mib: int = Field(
        default=CSV_BLOCK_SIZE_MIB, gt=0, description="CSV bytes parsed per batch."
    )
    preview_rows: int = Field(
        default=10, ge=0, description="Rows in the preview table."
    )
    staging_prefix: str = Field(
        default="datasets",
        pattern=STAGING_PREFIX_PATTERN,
        description="Key prefix of staged files in the job-outputs bucket "
        "(lower-case folders separated by /).",
    )

    def resolve(self, source: str) -> "DatasetSourceConfig":
        """The source's settings with this run's overrides (validated again)."""
        settings = SOURCE_DEFAULTS[source].model_dump()
        settings.update((k, v) for k, v in self.model_dump().items() if v is not None)
        return DatasetSourceConfig.model_validate(settings)


class DatasetSourceConfig(PrepareConfig):
    """A source's settings: its defaults with the run's overrides, every field set."""

    repo_url: str
    ref: str
    globs: list[str]
    read_options: list[FileReadOptions] = []
    key_columns: list[KeyColumnRule] = []


SOURCE_DEFAULTS = {
    BUILDING_STOCK_SOURCE: DatasetSourceConfig(
        repo_url="https://github.com/MODERATE-Project/building-stock-analysis.git",
        ref="main",
        globs=[
            "T3.1-dynamic-analysis/**/*.csv",
            "T3.2-static-analysis/**/*.csv",
            "T3.2-static-analysis/**/*.xlsx",
        ],
        read_options=[
            FileReadOptions(
                glob="T3.1-dynamic-analysis/**/*_PVanalysis.csv",
                skip_rows=1,
                separator=";",
                decimal=",",
            )
        ],
    ),
    GENOME_PROJECT_SOURCE: DatasetSourceConfig(
        repo_url="https://github.com/buds-lab/building-data-genome-project-2.git",
        ref="master",
        globs=[
            "data/meters/cleaned/*.csv",
            "data/weather/*.csv",
            "data/metadata/*.csv",
        ],
        key_columns=[
            KeyColumnRule(glob="data/meters/**/*.csv", columns=["timestamp"]),
            KeyColumnRule(glob="data/weather/*.csv", columns=["timestamp", "site_id"]),
            KeyColumnRule(
                glob="data/metadata/*.csv", columns=["building_id", "site_id"]
            ),
        ],
    ),
}
"""Every source, by partition key."""
PLATFORM_ASSET_NAMES = {
    BUILDING_STOCK_SOURCE: "building-stock",
    GENOME_PROJECT_SOURCE: "genome-project",
}


class PublishConfig(Config):
    """Run config of ``platform_asset_datasets``."""

    platform_asset_name: str | None = Field(
        default=None,
        min_length=1,
        description="Name of the platform asset (default: per source).",
    )
    max_objects_per_asset: int = Field(
        default=100,
        gt=0,
        description="Object limit of one platform asset (API setting).",
    )
    adopt_legacy_asset: bool = Field(
        default=True,
        description="Reuse an asset of earlier deployments (URL-derived uuid, "
        "or the oldest ownerless asset with the same name).",
    )
