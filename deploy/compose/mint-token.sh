#!/usr/bin/env bash
# Prints a caller token for the compose stack: an EdDSA JWT signed with the stand-in identity
# provider's key from generate-secrets.sh, with the issuer and audience deploy/compose.yaml
# requires. In production your identity provider issues these; this script only stands in for it.
#
#   deploy/compose/mint-token.sh --sub alice --account acme --role owner
#   deploy/compose/mint-token.sh --sub ops --account hubpay --role member --staff
#   deploy/compose/mint-token.sh --sub gateway --scope introspect --ttl-seconds 2592000
#
# Needs bash and OpenSSL 3 (Ed25519 signing with `pkeyutl -rawin`).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
secrets=${APIKEYS_SECRETS_DIR:-$here/secrets}
# Keep these equal to --jwt-issuer / --jwt-audience in deploy/compose.yaml.
issuer=https://idp.example.test
audience=apikeys

usage() {
    echo "usage: $0 --sub ID [--account ID] [--role ROLE] [--email ADDR] [--staff]" \
        "[--scope SCOPES] [--ttl-seconds N]" >&2
    exit 2
}

sub='' account='' role='' email='' staff=false scope='' ttl=3600
while (($#)); do
    case $1 in
        --sub) sub=${2-} ;;
        --account) account=${2-} ;;
        --role) role=${2-} ;;
        --email) email=${2-} ;;
        --scope) scope=${2-} ;;
        --ttl-seconds) ttl=${2-} ;;
        --staff) staff=true; shift; continue ;;
        *) usage ;;
    esac
    (($# >= 2)) || usage
    shift 2
done
[[ -n $sub ]] || usage
[[ $ttl =~ ^[0-9]+$ ]] || usage
# Claim values go into JSON unescaped, so only plain characters are accepted.
for value in "$sub" "$account" "$role" "$email" "$scope"; do
    [[ $value =~ ^[A-Za-z0-9@._:+\ -]*$ ]] || { echo "unsupported character in '$value'" >&2; exit 2; }
done

key=$secrets/idp-signing-key.pem
[[ -r $key ]] || { echo "$key is missing: run generate-secrets.sh first" >&2; exit 1; }

now=$(date +%s)
claims="{\"iss\":\"$issuer\",\"aud\":\"$audience\",\"sub\":\"$sub\",\"iat\":$now,\"exp\":$((now + ttl))"
[[ -n $account ]] && claims+=",\"account_id\":\"$account\""
[[ -n $role ]] && claims+=",\"role\":\"$role\""
[[ -n $email ]] && claims+=",\"email\":\"$email\""
[[ $staff == true ]] && claims+=",\"staff\":true"
[[ -n $scope ]] && claims+=",\"scope\":\"$scope\""
claims+="}"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
signing_input="$(printf '%s' '{"alg":"EdDSA","typ":"JWT"}' | b64url).$(printf '%s' "$claims" | b64url)"
# OpenSSL signs Ed25519 in one shot and needs a file for that, not a pipe.
input=$(mktemp)
trap 'rm -f "$input"' EXIT
printf '%s' "$signing_input" >"$input"
signature=$(openssl pkeyutl -sign -inkey "$key" -rawin -in "$input" | b64url)
printf '%s.%s\n' "$signing_input" "$signature"
