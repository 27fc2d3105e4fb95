"""How the pages write a moment: one filter, `utc_time`, for every `<time>` that the page's script localizes."""

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.template import Context, Template, TemplateSyntaxError

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

# What the pages wrote with Django's own `date` filter before the filter: the same bytes are wanted.
DJANGO_MINUTES = '<time datetime="{{ at|date:\'c\' }}" data-local>{{ at|date:"Y-m-d H:i" }} UTC</time>'
DJANGO_SECONDS = '<time datetime="{{ at|date:\'c\' }}" data-local>{{ at|date:"Y-m-d H:i:s" }} UTC</time>'

MOMENTS = [
    datetime(2026, 12, 3, 18, 16, 52, 123456, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    # Another zone than the portal's: read as UTC all the same.
    datetime(2026, 7, 1, 1, 30, 0, 5, tzinfo=timezone(timedelta(hours=2))),
]


def _render(source: str, at) -> str:
    return Template("{% load latchkey %}" + source).render(Context({"at": at}))


@pytest.mark.parametrize("at", MOMENTS, ids=str)
def test_a_moment_is_written_as_djangos_date_filter_wrote_it(at):
    assert _render("{{ at|utc_time }}", at) == _render(DJANGO_MINUTES, at)
    assert _render('{{ at|utc_time:"seconds" }}', at) == _render(DJANGO_SECONDS, at)


def test_a_moment_in_another_zone_reads_as_utc():
    at = datetime(2026, 7, 1, 1, 30, 7, tzinfo=timezone(timedelta(hours=2)))
    assert _render('{{ at|utc_time:"seconds" }}', at) == (
        '<time datetime="2026-06-30T23:30:07+00:00" data-local>2026-06-30 23:30:07 UTC</time>'
    )


@pytest.mark.parametrize("value", [None, "", "2026-12-03", 42])
def test_what_is_not_a_moment_is_written_as_nothing(value):
    assert _render("{{ at|utc_time }}", value) == ""


def test_an_unknown_precision_is_refused():
    with pytest.raises(TemplateSyntaxError, match="minutes"):
        _render('{{ at|utc_time:"hours" }}', MOMENTS[0])


def test_every_localized_moment_of_the_pages_goes_through_the_filter():
    # One home for how a moment reads: a `<time data-local>` written by hand would drift from it.
    by_hand = [
        f"{path.relative_to(TEMPLATES)}: {line.strip()[:80]}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for line in path.read_text().splitlines()
        if re.search(r"<time\b[^>]*\bdata-local", line)
    ]
    assert by_hand == []
    assert any("|utc_time" in path.read_text() for path in TEMPLATES.rglob("*.html"))
