"""A bearer token is read once by PyJWT, which verifies it; what picks its key and metadata is read apart, unchecked."""

import base64
import json

import jwt
import pytest

from portal.accounts import tokens
from portal.accounts.errors import TokenRefused

pytestmark = pytest.mark.integration


def _segment(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_the_header_and_the_claims_are_read_as_pyjwt_reads_them(token_issuer):
    token = token_issuer.user_token("alice")

    assert tokens._unverified(token, 0) == jwt.get_unverified_header(token)
    assert tokens._unverified(token, 1) == jwt.decode(token, options={"verify_signature": False})


HEADER = _segment({"alg": "RS256", "kid": "k"})


@pytest.mark.parametrize(
    ("token", "segment"),
    [
        ("only.two", 0),
        ("four.segments.are.many", 0),
        (f"{HEADER[:-1]}!.e30.sig", 0),  # not base64url
        (f"{_segment(['RS256'])}.e30.sig", 0),  # JSON, not an object
        (f"{base64.urlsafe_b64encode(b'not json').decode()}.e30.sig", 0),
        (f"{HEADER}.{base64.urlsafe_b64encode(bytes([0xFF, 0xFE])).decode()}.sig", 1),  # not UTF-8
        (f"{HEADER}.{_segment('claims')}.sig", 1),
    ],
)
def test_a_token_that_cannot_be_read_is_malformed(token, segment):
    with pytest.raises(ValueError):
        tokens._unverified(token, segment)


def test_a_malformed_bearer_token_is_refused_before_any_key_is_looked_up(token_issuer):
    with pytest.raises(TokenRefused) as refused:
        tokens.verify_access_token("not-a.jwt")

    assert refused.value.status == 401
    assert "malformed token" in refused.value.reason
    assert token_issuer.jwks_reads == 0


def test_verifying_a_bearer_token_reads_it_with_pyjwt_once(token_issuer, monkeypatch):
    token = token_issuer.user_token("alice")
    tokens.verify_access_token(token)  # the key set is read and kept
    reads = []
    load = jwt.api_jws.PyJWS._load
    monkeypatch.setattr(jwt.api_jws.PyJWS, "_load", lambda self, jwt: reads.append(1) or load(self, jwt))

    claims = tokens.verify_access_token(token)

    assert claims["preferred_username"] == "alice@contoso.example"
    assert len(reads) == 1
