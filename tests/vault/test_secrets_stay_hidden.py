"""No secret that passes through the Vault module shows in a repr, a str or a log record."""

import logging

import pytest

from portal.integrations import vault

pytestmark = pytest.mark.integration


def test_no_token_or_password_shows_in_results_or_logs(stack, issue, caplog):
    caplog.set_level(logging.DEBUG)

    grant, wrapped = issue(role="orders-readwrite")
    credentials = vault.unwrap_credentials(wrapping_token=wrapped.wrapping_token, expected_path=wrapped.creation_path)
    vault.revoke_grant_token(accessor=grant.accessor)

    secrets = [grant.token, wrapped.wrapping_token, credentials.password]
    shown = [repr(grant), str(grant), repr(wrapped), str(wrapped), repr(credentials), str(credentials)]
    logged = [caplog.text, *(repr(record.args) for record in caplog.records)]
    for secret in secrets:
        assert all(secret not in text for text in shown + logged)
    assert grant.accessor in repr(grant)
    assert credentials.username in repr(credentials)


def test_errors_do_not_carry_the_token_they_were_given(stack):
    wrapping_token = "s.thisisnotarealwrappingtoken"

    with pytest.raises(vault.VaultAlreadyGone) as caught:
        vault.unwrap_credentials(wrapping_token=wrapping_token, expected_path="database/creds/orders-readwrite")

    assert wrapping_token not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
