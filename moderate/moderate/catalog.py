"""What every asset shows in the catalogue: owner, feature tag, docs, code, deps.

Cross-feature dependencies are named by asset key here, so no feature imports
another. Code references point at the image's files, or at the commit named by
``MODERATE_GIT_URL`` and ``MODERATE_GIT_REF`` when both are set.
"""

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AnchorBasedFilePathMapping,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BetaWarning,
    Definitions,
    EnvVar,
    MetadataValue,
    PreviewWarning,
    link_code_references_to_git,
    with_source_code_references,
)

FEATURE_TAG = "moderate/feature"
OWNER = "team:moderate-data-engineering"
GIT_URL_VARIABLE = "MODERATE_GIT_URL"
GIT_REF_VARIABLE = "MODERATE_GIT_REF"
DOCS_METADATA_KEY = "moderate/docs"
PACKAGE_DIR = Path(__file__).parent
PACKAGE_PATH_IN_REPOSITORY = "moderate/moderate/"
DOCS_PATH_IN_REPOSITORY = "docs"
LOCAL_DOCS_DIR = PACKAGE_DIR.parent.parent / DOCS_PATH_IN_REPOSITORY
DOCS_PAGES: Mapping[str, str] = {
    "datasets": "datasets.md",
    "matrix_profile": "matrix-profile.md",
    "openmetadata": "openmetadata.md",
    "trust": "trust.md",
}

DATASETS_KEY = AssetKey("platform_asset_datasets")
REPORTS_KEY = AssetKey("matrix_profile_reports")
CATALOG_KEY = AssetKey("openmetadata_catalog")
CROSS_FEATURE_DEPS: Mapping[AssetKey, tuple[AssetKey, ...]] = {
    REPORTS_KEY: (DATASETS_KEY,),  # analyses read the published datasets' objects
    CATALOG_KEY: (DATASETS_KEY, REPORTS_KEY),  # the data lake holds both
}


@dataclass(frozen=True)
class Repository:
    """Where the code location's source lives, when the deployment says so."""

    url: str
    ref: str

    def blob(self, path_in_repository: str) -> str:
        """The web address of one file at this repository's ref."""
        return f"{self.url.rstrip('/')}/blob/{self.ref}/{path_in_repository}"


def configured_repository() -> Repository | None:
    """The repository named by the two git variables, if both are set."""
    url = (EnvVar(GIT_URL_VARIABLE).get_value() or "").strip()
    ref = (EnvVar(GIT_REF_VARIABLE).get_value() or "").strip()
    return Repository(url=url, ref=ref) if url and ref else None


def docs_link(feature: str, repository: Repository | None) -> MetadataValue | None:
    """A link to the feature's docs page, or ``None`` for an unknown feature."""
    page = DOCS_PAGES.get(feature)
    if page is None:
        return None
    if repository is not None:
        return MetadataValue.url(repository.blob(f"{DOCS_PATH_IN_REPOSITORY}/{page}"))
    return MetadataValue.path(str(LOCAL_DOCS_DIR / page))


def _describe(spec: AssetSpec, repository: Repository | None) -> AssetSpec:
    feature = spec.group_name or ""
    link = docs_link(feature, repository)
    known_deps = {dep.asset_key for dep in spec.deps}
    return spec.merge_attributes(
        deps=[k for k in CROSS_FEATURE_DEPS.get(spec.key, ()) if k not in known_deps],
        owners=[] if OWNER in spec.owners else [OWNER],
        tags={FEATURE_TAG: feature} if feature and FEATURE_TAG not in spec.tags else {},
        metadata=(
            {DOCS_METADATA_KEY: link}
            if link is not None and DOCS_METADATA_KEY not in spec.metadata
            else {}
        ),
    )


def _with_code_references(
    assets: Sequence[object], repository: Repository | None
) -> Sequence[object]:
    referenced = with_source_code_references(assets)  # type: ignore[arg-type]
    if repository is None:
        return referenced
    return link_code_references_to_git(
        referenced,
        git_url=repository.url,
        git_branch=repository.ref,
        file_path_mapping=AnchorBasedFilePathMapping(
            local_file_anchor=PACKAGE_DIR,
            file_anchor_path_in_repository=PACKAGE_PATH_IN_REPOSITORY,
        ),
    )


def catalogued(defs: Definitions) -> Definitions:
    """``defs`` whose assets carry the catalogue attributes and cross-feature deps."""
    repository = configured_repository()
    # The helpers are flagged preview/beta; their warnings would print at each start.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=PreviewWarning)
        warnings.simplefilter("ignore", category=BetaWarning)
        described = defs.map_asset_specs(func=lambda spec: _describe(spec, repository))
        # Observable source assets run Dagster's own wrapper op: a reference
        # would point into Dagster, so they keep none.
        observed = [
            a
            for a in described.assets or []
            if isinstance(a, AssetsDefinition) and a.is_observable
        ]
        assets = [
            *_with_code_references(
                [a for a in described.assets or [] if a not in observed], repository
            ),
            *observed,
        ]
    return Definitions(
        assets=assets,  # type: ignore[arg-type]
        asset_checks=described.asset_checks,
        jobs=described.jobs,
        schedules=described.schedules,
        sensors=described.sensors,
        resources=described.resources,
        executor=described.executor,
        loggers=described.loggers,
        metadata=described.metadata,
    )
