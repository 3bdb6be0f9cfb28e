import pytest

from moderate.resources import (
    KeycloakResource,
    PostgresResource,
    RabbitMQResource,
    ServiceNotConfiguredError,
)


def test_unset_resource_names_every_missing_variable():
    resource = KeycloakResource()
    assert resource.missing_variables() == (
        "KEYCLOAK_SERVER_URL",
        "KEYCLOAK_ADMIN_USERNAME",
        "KEYCLOAK_ADMIN_PASSWORD",
    )
    with pytest.raises(ServiceNotConfiguredError) as error:
        resource.admin()
    assert str(error.value) == (
        "Keycloak is not configured: set KEYCLOAK_SERVER_URL, "
        "KEYCLOAK_ADMIN_USERNAME, KEYCLOAK_ADMIN_PASSWORD"
    )


def test_environment_is_read_when_used_not_when_built(monkeypatch):
    resource = PostgresResource()
    assert not resource.is_configured()
    monkeypatch.setenv("POSTGRES_HOST", "db.internal")
    monkeypatch.setenv("POSTGRES_USERNAME", "moderate")
    monkeypatch.setenv("POSTGRES_PASSWORD", "s3cr@t/%")
    assert resource.is_configured()
    assert resource.setting("port") == "5432"
    url = resource.url("metrics")
    assert url.password == "s3cr@t/%"
    assert "s3cr@t" not in str(url)


def test_explicit_fields_win_over_environment(monkeypatch):
    monkeypatch.setenv("MATRIX_PROFILE_QUEUE", "from-env")
    assert RabbitMQResource().queue == "from-env"
    assert RabbitMQResource(matrix_profile_queue="explicit").queue == "explicit"


def test_empty_variable_counts_as_missing(monkeypatch):
    monkeypatch.setenv("RABBIT_URL", "")
    assert RabbitMQResource().missing_variables() == ("RABBIT_URL",)


def test_bad_integer_setting_does_not_echo_its_value(monkeypatch):
    monkeypatch.setenv("POSTGRES_PASSWORD", "p")
    resource = PostgresResource(host="h", username="u", port="secret-ish")
    with pytest.raises(ValueError, match="POSTGRES_PORT must be an integer") as error:
        resource.url()
    assert "secret-ish" not in str(error.value)


def test_health_check_of_unconfigured_resource_does_not_connect():
    report = RabbitMQResource().health_check()
    assert not report.configured
    assert report.reachable is None
    assert report.missing_variables == ("RABBIT_URL",)
    assert not report.healthy
