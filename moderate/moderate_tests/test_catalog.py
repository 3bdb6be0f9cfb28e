"""Every asset carries its owner, feature tag, docs link and code references."""

import importlib
import sys

import pytest
from dagster import Definitions

from moderate import catalog

REPOSITORY_URL = "https://github.com/example/moderate"
REPOSITORY_REF = "0123456789abcdef0123456789abcdef01234567"


def _load_definitions() -> Definitions:
    sys.modules.pop("moderate.definitions", None)
    return importlib.import_module("moderate.definitions").defs


def test_every_asset_is_described():
    specs = list(_load_definitions().resolve_all_asset_specs())
    assert specs
    for spec in specs:
        name = spec.key.to_user_string()
        assert spec.owners == [catalog.OWNER], name
        assert spec.tags[catalog.FEATURE_TAG] == spec.group_name, name
        link = spec.metadata[catalog.DOCS_METADATA_KEY]
        assert link.value.endswith(catalog.DOCS_PAGES[spec.group_name]), name


def test_local_docs_links_point_at_existing_pages():
    for feature in catalog.DOCS_PAGES:
        link = catalog.docs_link(feature, repository=None)
        assert link is not None
        assert (catalog.LOCAL_DOCS_DIR / catalog.DOCS_PAGES[feature]).is_file()
    assert catalog.docs_link("no-such-feature", repository=None) is None


def test_code_references_link_to_the_named_commit(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(catalog.GIT_URL_VARIABLE, REPOSITORY_URL)
    monkeypatch.setenv(catalog.GIT_REF_VARIABLE, REPOSITORY_REF)
    try:
        specs = list(_load_definitions().resolve_all_asset_specs())
    finally:
        monkeypatch.delenv(catalog.GIT_URL_VARIABLE)
        monkeypatch.delenv(catalog.GIT_REF_VARIABLE)
        _load_definitions()
    urls = [
        reference.url
        for spec in specs
        if "dagster/code_references" in spec.metadata
        for reference in spec.metadata["dagster/code_references"].code_references
    ]
    assert urls
    prefix = f"{REPOSITORY_URL}/tree/{REPOSITORY_REF}/moderate/moderate/"
    assert all(url.startswith(prefix) for url in urls), urls
    docs = [spec.metadata[catalog.DOCS_METADATA_KEY].value for spec in specs]
    assert all(
        url.startswith(f"{REPOSITORY_URL}/blob/{REPOSITORY_REF}/docs/") for url in docs
    )


def test_half_a_repository_is_no_repository(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(catalog.GIT_URL_VARIABLE, REPOSITORY_URL)
    assert catalog.configured_repository() is None
