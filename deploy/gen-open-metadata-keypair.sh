#!/usr/bin/env bash
# Creates the RSA key pair OpenMetadata signs its own JWTs with (bot tokens):
# om_privkey.der (PKCS#8 DER) and om_pubkey.der (DER), 2048 bits. Keeps existing keys.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly private_pem="${repo_root}/om_privkey.pem"
readonly private_der="${repo_root}/om_privkey.der"
readonly public_der="${repo_root}/om_pubkey.der"

require_commands openssl
if [[ -f "${private_der}" && -f "${public_der}" ]]; then
  log "OpenMetadata key pair already present; keeping it."
  exit 0
fi
umask 077
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "${private_pem}"
openssl pkcs8 -topk8 -nocrypt -inform PEM -outform DER -in "${private_pem}" -out "${private_der}"
openssl rsa -in "${private_pem}" -pubout -outform DER -out "${public_der}"
rm --force "${private_pem}"
log "Wrote ${private_der} and ${public_der}"
