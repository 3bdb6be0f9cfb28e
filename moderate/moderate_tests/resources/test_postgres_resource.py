import sqlalchemy as sa

from moderate.resources import PostgresResource
from moderate_tests.support.postgres import database_names, drop_database
from moderate_tests.support.secrets import resource_with_secrets


def test_engine_is_created_once_per_database_and_disposed(postgres, postgres_database):
    first = postgres.engine(postgres_database)
    assert postgres.engine(postgres_database) is first
    with first.connect() as connection:
        assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
    assert first.pool.checkedin() == 1
    postgres.dispose()
    assert first.pool.checkedin() == 0
    assert postgres.engine(postgres_database) is not first


def test_awkward_database_name_is_quoted_not_injected(postgres):
    name = 'moderate_test_we"ird; DROP TABLE x --'
    try:
        assert postgres.ensure_database(name) is True
        assert postgres.ensure_database(name) is False
        assert name in database_names(postgres)
    finally:
        drop_database(postgres, name)


def test_password_with_url_special_characters(postgres):
    role = "moderate_test_role"
    password = "p@ss/w%rd:#?"
    admin = postgres.engine()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        conn.execute(
            sa.text(f"CREATE ROLE {role} LOGIN PASSWORD :password"),
            {"password": password},
        )
    try:
        resource = resource_with_secrets(
            PostgresResource,
            {"password": password},
            host=postgres.setting("host"),
            port=postgres.setting("port"),
            username=role,
        )
        assert resource.url().password == password
        assert resource.health_check().reachable
        resource.dispose()
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))


def test_unreachable_server_is_reported_not_raised(monkeypatch):
    monkeypatch.setenv("POSTGRES_PASSWORD", "p")
    resource = PostgresResource(host="127.0.0.1", port="1", username="u")
    report = resource.health_check()
    assert report.configured
    assert report.reachable is False
    assert "OperationalError" in report.detail
    assert "p@" not in report.detail
