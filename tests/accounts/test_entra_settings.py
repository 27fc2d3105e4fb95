"""Settings for a real Entra tenant: the sign-in asks Graph's User.Read, and exactly one tenant signs in."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.accounts import entra

TENANT = "c0000000-0000-4000-8000-00000000000c"
ENTRA = f"https://login.microsoftonline.com/{TENANT}/v2.0"
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_default_scopes_with_entra_include_user_read():
    assert entra.sign_in_scopes(issuer=ENTRA, configured="") == "openid profile email User.Read"


def test_the_default_scopes_of_another_provider_ask_nothing_of_graph():
    assert entra.sign_in_scopes(issuer="http://127.0.0.1:9400", configured=None) == "openid profile email"


def test_entra_scopes_without_user_read_are_refused_with_the_reason():
    with pytest.raises(ImproperlyConfigured, match="User.Read.*more than 200 groups"):
        entra.sign_in_scopes(issuer=ENTRA, configured="openid profile email")


def test_configured_scopes_with_user_read_are_kept():
    assert entra.sign_in_scopes(issuer=ENTRA, configured="openid  profile user.read") == "openid profile user.read"


def test_one_tenant_matching_the_issuer_is_accepted():
    assert entra.allowed_tenant(issuer=ENTRA, tenants=[TENANT]) == [TENANT]


@pytest.mark.parametrize(
    ("issuer", "tenants", "message"),
    [
        (ENTRA, [TENANT, "f0000000-0000-4000-8000-00000000000f"], "exactly one tenant"),
        (ENTRA, [], "exactly one tenant"),
        ("https://login.microsoftonline.com/organizations/v2.0", [TENANT], "'organizations' authority"),
        ("https://login.microsoftonline.com/common/v2.0", [TENANT], "'common' authority"),
        (ENTRA, ["f0000000-0000-4000-8000-00000000000f"], "must be the same"),
    ],
)
def test_several_tenants_or_a_multi_tenant_authority_are_refused(issuer, tenants, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        entra.allowed_tenant(issuer=issuer, tenants=tenants)


def test_the_portal_refuses_to_start_on_entra_without_user_read():
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env |= {"DJANGO_DEBUG": "1", "OIDC_ISSUER": ENTRA, "OIDC_ALLOWED_TENANTS": TENANT, "OIDC_SCOPES": "openid"}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "without User.Read" in result.stderr
