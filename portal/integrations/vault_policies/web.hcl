# The web process's Vault policy: reveal wrapped credentials and read metadata, nothing else.
# It cannot create a grant token, read credentials, or revoke anything: code run in the
# internet-facing process can at most open a wrapping token it was going to open anyway.
# prepare_vault fills in the database secrets engine's mount.

# Check a wrapping token's creation path, then unwrap it once, at reveal time.
path "sys/wrapping/lookup" {
  capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# Validate the catalog: list and read the database roles (not their credentials).
path "{mount}/roles" {
  capabilities = ["list"]
}
path "{mount}/roles/*" {
  capabilities = ["read"]
}

# Read where a database connection points (host, port, database) for the connection
# strings shown at reveal time; Vault never returns the connection's password.
path "{mount}/config/*" {
  capabilities = ["read"]
}

# Tell whether its own login is still valid (the readiness check).
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Tell which of these it holds (`manage.py doctor`); Vault's default policy, which would
# otherwise give this, is not attached.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# sys/health needs no token and so no entry here.
