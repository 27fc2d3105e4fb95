from tests.access.conftest import alice, bob, carol, catalog, dave, eager_tasks, erin  # noqa: F401
from tests.accounts.conftest import fake_graph  # noqa: F401
from tests.support.entra import token_issuer  # noqa: F401
