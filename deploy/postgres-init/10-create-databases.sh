#!/usr/bin/env bash
# Creates the databases of Keycloak and OpenMetadata on the first start of the
# postgres container (docker-entrypoint-initdb.d). This folder holds init scripts only.
set -euo pipefail

for database in "${KEYCLOAK_POSTGRES_DB}" "${OPEN_METADATA_POSTGRES_DB}"; do
  psql --variable=ON_ERROR_STOP=1 --username="${POSTGRES_USER}" --dbname="${POSTGRES_DB}" \
    --set=name="${database}" <<'SQL'
SELECT format('CREATE DATABASE %I', :'name')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name')\gexec
SQL
done
