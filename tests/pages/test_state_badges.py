"""The state badges: a word and an icon, the icon a glyph that the fonts on the machine can draw."""

import re
import subprocess
from pathlib import Path

import pytest

from portal.access.models import STATE_LABELS, AccessRequest

STYLESHEET = Path(__file__).resolve().parents[2] / "static" / "latchkey.css"


def _glyphs() -> set[str]:
    drawn = "".join(re.findall(r'content:\s*"([^"]*)"', STYLESHEET.read_text()))
    return {char for char in drawn if not char.isascii()}


@pytest.mark.parametrize("glyph", sorted(_glyphs()))
def test_every_icon_of_the_stylesheet_is_in_an_installed_font(glyph):
    # Chromium draws a box for a character that no font on the machine has (the expired badge's hourglass did).
    fonts = subprocess.run(
        ["fc-list", f":charset={ord(glyph):x}", "family"], capture_output=True, text=True, check=True
    ).stdout
    assert fonts.strip(), f"no installed font has {glyph!r} (U+{ord(glyph):04X})"


def test_every_state_has_a_badge_icon_and_words():
    rules = re.findall(r"([^{}]+)\{([^}]*)\}", STYLESHEET.read_text())
    with_icon = {
        state
        for selectors, body in rules
        if "content:" in body
        for state in re.findall(r"\.state-([a-z]+)::before", selectors)
    }
    assert with_icon == set(AccessRequest.State.values)
    assert set(STATE_LABELS) == set(AccessRequest.State.values)


@pytest.mark.parametrize("state", AccessRequest.State.values)
def test_a_state_badge_carries_its_state_and_words(state):
    from django.template import engines

    badge = engines["django"].from_string("{% load latchkey %}{{ state|state_badge }}").render({"state": state})

    assert badge == f'<span class="state state-{state}">{STATE_LABELS[state]}</span>'


def test_a_state_badge_escapes_what_it_is_given():
    from portal.access.templatetags.latchkey import state_badge

    assert (
        state_badge('"><script>')
        == '<span class="state state-&quot;&gt;&lt;script&gt;">&quot;&gt;&lt;script&gt;</span>'
    )
