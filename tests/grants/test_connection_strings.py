"""The ready-made connection strings quote what a password may contain."""

import shlex
from datetime import UTC, datetime

from portal.access.services import RevealedCredentials


def _creds(password: str) -> RevealedCredentials:
    return RevealedCredentials(
        username="v-alice-analytics",
        password=password,
        host="db.example",
        port=5432,
        database="shop",
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )


def test_uri_and_jdbc_url_percent_encode_the_password():
    creds = _creds("p@ss:w/rd?&")

    assert creds.connection_uri == "postgresql://v-alice-analytics:p%40ss%3Aw%2Frd%3F%26@db.example:5432/shop"
    assert creds.jdbc_url.endswith("?user=v-alice-analytics&password=p%40ss%3Aw%2Frd%3F%26")


def test_pgpass_line_escapes_colons_and_backslashes():
    assert _creds("a:b\\c").pgpass_line == "db.example:5432:shop:v-alice-analytics:a\\:b\\\\c"


def test_psql_command_is_one_shell_word_whatever_the_password_holds():
    creds = _creds('it\'s $(rm -rf ~) `x` "q" ;|&')

    assert shlex.split(creds.psql_command) == ["psql", creds.connection_uri]


def test_repr_never_shows_the_password():
    assert "hunter2" not in repr(_creds("hunter2"))
