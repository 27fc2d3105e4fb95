"""The demo Entra ID tenant: its groups and users, shared by the demo and the tests."""

from dataclasses import dataclass

TENANT_ID = "c0000000-0000-4000-8000-00000000000c"
EMAIL_DOMAIN = "contoso.example"

GROUPS = {
    "analytics-readers": "a0000000-0000-4000-8000-000000000001",
    "orders-engineers": "a0000000-0000-4000-8000-000000000002",
    "orders-approvers": "a0000000-0000-4000-8000-000000000003",
    "dba": "a0000000-0000-4000-8000-000000000004",
    "portal-admins": "a0000000-0000-4000-8000-000000000005",
}


@dataclass(frozen=True)
class DemoUser:
    name: str
    number: int
    groups: tuple[str, ...]

    @property
    def oid(self) -> str:
        return f"b0000000-0000-4000-8000-{self.number:012d}"

    @property
    def upn(self) -> str:
        return f"{self.name}@{EMAIL_DOMAIN}"

    @property
    def display_name(self) -> str:
        return self.name.capitalize()

    @property
    def group_ids(self) -> list[str]:
        return [GROUPS[group] for group in self.groups]

    def claims(self, tenant_id: str = TENANT_ID) -> dict:
        """Return the Entra-shaped ID token claims the provider issues for this user."""
        return {
            "oid": self.oid,
            "tid": tenant_id,
            "preferred_username": self.upn,
            "name": self.display_name,
            "email": self.upn,
            "groups": self.group_ids,
        }


USERS = {
    user.name: user
    for user in (
        DemoUser("alice", 1, ("analytics-readers", "orders-engineers")),
        DemoUser("bob", 2, ("orders-engineers", "orders-approvers")),
        DemoUser("carol", 3, ("orders-approvers", "portal-admins")),
        DemoUser("dave", 4, ("dba",)),
        DemoUser("erin", 5, ()),
    )
}


# The portal's API as the demo tenant exposes it: the delegated scope people's tokens carry, and the
# public client (the `latchkey` command's app registration) that asks for them.
API_SCOPE = "access_as_user"
# The app role an application's token must carry to call the portal's API at all.
API_APP_ROLE = "latchkey.api"
CLI_CLIENT_ID = "d0000000-0000-4000-8000-0000000000c1"


@dataclass(frozen=True)
class DemoApplication:
    """An app registration that calls the API on its own (client credentials), with app roles of the portal."""

    name: str
    client_id: str
    # The object ID of its service principal: the `oid` (and `sub`) of its tokens.
    oid: str
    app_roles: tuple[str, ...]


APPLICATIONS = {
    app.name: app
    for app in (
        DemoApplication(
            "orders-deploy",
            client_id="e0000000-0000-4000-8000-0000000000a1",
            oid="e0000000-0000-4000-8000-0000000000b1",
            # API_APP_ROLE lets an application call the portal's API at all (OIDC_API_APP_ROLE); the
            # other names it in a catalog role's `eligible_app_roles`.
            app_roles=(API_APP_ROLE, "latchkey.orders-migrate"),
        ),
    )
}

# The clients that may call the portal's API with a token (OIDC_API_ALLOWED_CLIENTS).
API_CLIENTS = [CLI_CLIENT_ID, *(app.client_id for app in APPLICATIONS.values())]
