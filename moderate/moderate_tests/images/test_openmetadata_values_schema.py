"""The rendered OpenMetadata values against the closed objects of the chart's schema.

Facts from ``values.schema.json`` of the open-metadata/openmetadata chart (read
at chart 1.13.1, the newest in the chart repository's index when checked; see
deploy/versions.env): these objects set ``additionalProperties: false``, so an
unknown key fails ``helm lint`` and ``helm install``. Each path lists the keys
the schema allows there.
"""

from typing import Any

from moderate_tests.deployment.files import REPO_ROOT, render_yaml_documents, sample_env

CLOSED_OBJECTS: dict[tuple[str, ...], frozenset[str]] = {
    ("openmetadata",): frozenset(["config"]),
    ("openmetadata", "config"): frozenset(
        [
            "authentication",
            "authorizer",
            "clusterName",
            "database",
            "deployPipelinesConfig",
            "elasticsearch",
            "eventMonitor",
            "fernetkey",
            "jwtTokenConfiguration",
            "logLevel",
            "openmetadata",
            "pipelineServiceClientConfig",
            "rdf",
            "reindexConfig",
            "secretsManager",
            "upgradeMigrationConfigs",
            "web",
        ]
    ),
    ("openmetadata", "config", "elasticsearch"): frozenset(
        [
            "auth",
            "batchSize",
            "clusterAlias",
            "connectionTimeoutSecs",
            "enabled",
            "host",
            "keepAliveTimeoutSecs",
            "payLoadSize",
            "port",
            "scheme",
            "searchIndexMappingLanguage",
            "searchType",
            "socketTimeoutSecs",
            "trustStore",
        ]
    ),
    ("openmetadata", "config", "elasticsearch", "trustStore"): frozenset(
        ["enabled", "password", "path"]
    ),
    ("openmetadata", "config", "elasticsearch", "auth"): frozenset(
        ["enabled", "password", "username"]
    ),
    ("openmetadata", "config", "database"): frozenset(
        [
            "auth",
            "checkConnectionOnBorrow",
            "checkConnectionWhileIdle",
            "databaseName",
            "dbParams",
            "dbScheme",
            "driverClass",
            "enabled",
            "evictionInterval",
            "host",
            "initialSize",
            "maxSize",
            "minIdleTime",
            "minSize",
            "port",
        ]
    ),
    ("openmetadata", "config", "database", "auth"): frozenset(["password", "username"]),
    ("openmetadata", "config", "database", "auth", "password"): frozenset(
        ["secretKey", "secretRef"]
    ),
    ("openmetadata", "config", "pipelineServiceClientConfig"): frozenset(
        [
            "airflow",
            "apiEndpoint",
            "argoWorkflows",
            "auth",
            "className",
            "enabled",
            "healthCheckInterval",
            "hostIp",
            "ingestionIpInfoEnabled",
            "k8s",
            "metadataApiEndpoint",
            "sslCertificatePath",
            "type",
            "verifySsl",
        ]
    ),
    ("openmetadata", "config", "authorizer"): frozenset(
        [
            "allowedDomains",
            "allowedEmailRegistrationDomains",
            "className",
            "containerRequestFilter",
            "enableSecureSocketConnection",
            "enabled",
            "enforcePrincipalDomain",
            "initialAdmins",
            "principalDomain",
            "useRolesFromProvider",
        ]
    ),
    ("openmetadata", "config", "authentication"): frozenset(
        [
            "authority",
            "callbackUrl",
            "clientId",
            "clientType",
            "enableSelfSignup",
            "enabled",
            "jwtPrincipalClaims",
            "jwtPrincipalClaimsMapping",
            "ldapConfiguration",
            "oidcConfiguration",
            "provider",
            "publicKeys",
            "responseType",
            "saml",
        ]
    ),
    ("openmetadata", "config", "jwtTokenConfiguration"): frozenset(
        [
            "enabled",
            "jwtissuer",
            "keyId",
            "rsaprivateKeyFilePath",
            "rsapublicKeyFilePath",
        ]
    ),
}


def _at(values: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node: Any = values
    for key in path:
        node = node.get(key, {})
    return node


def unknown_keys(values: dict[str, Any]) -> dict[str, set[str]]:
    """Keys of the closed objects that the chart's schema would refuse."""
    found = {}
    for path, allowed in CLOSED_OBJECTS.items():
        unknown = set(_at(values, path)) - allowed
        if unknown:
            found[".".join(path)] = unknown
    return found


def _values() -> dict[str, Any]:
    (values,) = render_yaml_documents(
        REPO_ROOT / "values-openmetadata.yaml.template", sample_env()
    )
    return values


def test_values_use_only_keys_the_chart_schema_allows() -> None:
    assert unknown_keys(_values()) == {}


def test_a_key_the_schema_refuses_is_found() -> None:
    values = _values()
    values["openmetadata"]["config"]["authentication"]["providerName"] = "Keycloak"
    assert unknown_keys(values) == {
        "openmetadata.config.authentication": {"providerName"}
    }
