"""The free-text inputs that requests, decisions, break-glass and reviews share: one set of rules, one set of words."""

import pytest

from portal.access.services.cleaning import REFERENCE_MAX_CHARS, clean_note, clean_reference
from portal.core.errors import InvalidInput


def test_a_reference_is_stripped_and_an_empty_optional_one_is_no_error():
    errors = {}
    assert clean_reference("  OPS-12 ", errors, field="ticket", noun="ticket reference", pattern=r"OPS-\d+") == "OPS-12"
    assert clean_reference(None, errors, field="ticket", noun="ticket reference") == ""
    assert errors == {}


@pytest.mark.parametrize(
    ("text", "noun", "said"),
    [
        ("", "incident reference", "Give the incident reference."),
        ("X" * (REFERENCE_MAX_CHARS + 1), "ticket reference", "A ticket reference has at most 100 characters."),
        ("X" * (REFERENCE_MAX_CHARS + 1), "incident reference", "An incident reference has at most 100 characters."),
        ("inc 12", "incident reference", "The incident reference must match INC-[0-9]+."),
    ],
)
def test_a_bad_reference_is_noted_at_its_field(text, noun, said):
    errors = {}
    clean_reference(text, errors, field="ref", noun=noun, pattern="INC-[0-9]+", missing="Give the incident reference.")
    assert errors == {"ref": [said]}


def test_a_note_is_stripped_and_may_be_empty_unless_required():
    assert clean_note("  Fine by me ", field="comment", max_chars=20) == "Fine by me"
    assert clean_note(None, field="comment") == ""
    with pytest.raises(InvalidInput) as refused:
        clean_note("  ", field="reason", missing=("Say why.", "A reason is required."))
    assert (refused.value.detail, refused.value.fields) == ("Say why.", {"reason": ["A reason is required."]})


@pytest.mark.parametrize(
    ("text", "detail", "said"),
    [
        ("x" * 11, "Keep the reason short.", "At most 10 characters."),
        ("ok\x00", "The reason is not valid.", "Null characters are not allowed."),
    ],
)
def test_a_long_note_or_one_with_a_null_character_is_refused(text, detail, said):
    with pytest.raises(InvalidInput) as refused:
        clean_note(text, field="reason", max_chars=10)
    assert (refused.value.detail, refused.value.fields) == (detail, {"reason": [said]})
