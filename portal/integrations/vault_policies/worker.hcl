# The worker's (and beat's) Vault policy: create grant tokens, revoke and look them up by
# accessor, and keep the audit chain's anchor. It cannot unwrap or read credentials.
# prepare_vault fills in the database secrets engine's mount, the grant token role and the
# KV version 2 engine that holds the audit anchor.

# Create a grant's orphan token through the token role (its policies are limited to
# latchkey-grant-* by the role itself).
path "auth/token/create/{token_role}" {
  capabilities = ["update"]
}

# Revoke and look up grant tokens by accessor (never by token).
path "auth/token/revoke-accessor" {
  capabilities = ["update"]
}
path "auth/token/lookup-accessor" {
  capabilities = ["update"]
}

# Check that a role exists before creating a token for it.
path "{mount}/roles/*" {
  capabilities = ["read"]
}

# Write and read the head of the audit chain, with check-and-set.
path "{audit_mount}/data/head" {
  capabilities = ["create", "read", "update"]
}
path "{audit_mount}/metadata/head" {
  capabilities = ["read"]
}

# Tell whether its own login is still valid.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Tell which of these it holds (`manage.py doctor`); Vault's default policy, which would
# otherwise give this, is not attached.
path "sys/capabilities-self" {
  capabilities = ["update"]
}
