# The portal's own Vault policy: the least it needs, no sudo, no root.

# Create the per-grant orphan token through the grant token role.
path "auth/token/create/latchkey-grant" {
  capabilities = ["update"]
}

# Revoke and look up grant tokens by accessor (never by token).
path "auth/token/revoke-accessor" {
  capabilities = ["update"]
}
path "auth/token/lookup-accessor" {
  capabilities = ["update"]
}

# Keep its own login alive.
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Check and unwrap the wrapped credentials at reveal time.
path "sys/wrapping/lookup" {
  capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# Validate the catalog: list and read the database roles (not their credentials).
path "database/roles" {
  capabilities = ["list"]
}
path "database/roles/*" {
  capabilities = ["read"]
}

# Prove that a grant's lease is gone.
path "sys/leases/lookup" {
  capabilities = ["update"]
}

# Read where a database connection points (host, port, database) for the
# connection strings shown at reveal time; Vault never returns its password.
path "database/config/*" {
  capabilities = ["read"]
}

# Anchor the audit chain's head outside the database (beat, every 30 s) and read it back (verify_audit).
path "latchkey-audit/data/head" {
  capabilities = ["create", "read", "update"]
}
path "latchkey-audit/metadata/head" {
  capabilities = ["read"]
}

# The health check reads sys/health, which needs no token and so no entry here.
