"""The client's parsing and formatting, without a portal."""

import argparse
import json

import pytest

from portal.cli.errors import EXIT_NOT_ALLOWED, EXIT_UNAVAILABLE, EXIT_WRONG_STATE, ApiError
from portal.cli.main import connection_env, credentials_text, parse_duration

CREDS = {
    "username": "v-alice-orders",
    "password": "p:a\\ss w'rd",
    "host": "db.internal",
    "port": 5432,
    "database": "shop",
    "connection_uri": "postgresql://v-alice-orders:p%3Aa%5Css%20w%27rd@db.internal:5432/shop",
    "expires_at": "2030-01-31T09:30:00Z",
}


@pytest.mark.parametrize(("text", "minutes"), [("90", 90), ("30m", 30), ("2h", 120), ("1h30m", 90), ("1h 5m", 65)])
def test_durations_are_read_in_minutes_and_hours(text, minutes):
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["", "0", "0m", "soon", "1d", "-5", "m", "h"])
def test_a_duration_that_is_not_one_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_pgpass_escapes_colons_and_backslashes():
    assert credentials_text(CREDS, "pgpass") == "db.internal:5432:shop:v-alice-orders:p\\:a\\\\ss w'rd"


def test_env_lines_are_quoted_for_the_shell():
    lines = credentials_text(CREDS, "env").splitlines()

    assert "export PGPASSWORD='p:a\\ss w'\"'\"'rd'" in lines
    assert [line.split("=")[0] for line in lines] == [
        "export PGHOST",
        "export PGPORT",
        "export PGDATABASE",
        "export PGUSER",
        "export PGPASSWORD",
        "export DATABASE_URL",
    ]


def test_json_and_uri_formats():
    assert json.loads(credentials_text(CREDS, "json")) == CREDS
    assert credentials_text(CREDS, "uri") == CREDS["connection_uri"]


def test_the_connection_environment_names_what_postgresql_clients_read():
    assert connection_env(CREDS) == {
        "PGHOST": "db.internal",
        "PGPORT": "5432",
        "PGDATABASE": "shop",
        "PGUSER": "v-alice-orders",
        "PGPASSWORD": "p:a\\ss w'rd",
        "DATABASE_URL": CREDS["connection_uri"],
    }


@pytest.mark.parametrize(
    ("status", "exit_code"), [(403, EXIT_NOT_ALLOWED), (410, EXIT_WRONG_STATE), (503, EXIT_UNAVAILABLE)]
)
def test_api_errors_map_to_documented_exit_statuses(status, exit_code):
    error = ApiError(status=status, code="x", detail="Because.", fields={"duration_minutes": ["Too long."]})

    assert error.exit_code == exit_code
    assert error.message == "Because.\n  duration_minutes: Too long."
