# A grant token may read credentials of exactly one database role, and only wrapped:
# min_wrapping_ttl refuses a read that does not ask for response wrapping, so the
# token never sees (or hands out) the password itself.
path "{mount}/creds/{role}" {
  capabilities = ["read"]
  min_wrapping_ttl = "1s"
}
