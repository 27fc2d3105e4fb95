"""The free-text inputs every stage checks alike: references (a ticket, an incident) and notes (a comment, a reason).

Requests, decisions, break-glass and access reviews all take them, so the rules live here, below
every stage, rather than in one stage that the others would import.
"""

import re

from portal.core.errors import InvalidInput

# A reference names something in another system (a ticket, an incident): short.
REFERENCE_MAX_CHARS = 100


def clean_reference(
    text: str | None, errors: dict, *, field: str, noun: str, pattern: str = "", missing: str = ""
) -> str:
    """Return the reference stripped; note in `errors[field]` one that is too long or does not match `pattern`.

    An empty reference is an error only when `missing` says why it is needed.
    """
    text = (text or "").strip()
    if not text:
        if missing:
            errors[field] = [missing]
        return ""
    if len(text) > REFERENCE_MAX_CHARS:
        article = "An" if noun[:1] in "aeiou" else "A"
        errors[field] = [f"{article} {noun} has at most {REFERENCE_MAX_CHARS} characters."]
    elif pattern and not re.fullmatch(pattern, text):
        errors[field] = [f"The {noun} must match {pattern}."]
    return text


def clean_note(
    text: str | None, *, field: str, max_chars: int | None = None, missing: tuple[str, str] | None = None
) -> str:
    """Return the note stripped; refuse a NUL character, a missing note where `missing` is given, or a long one.

    `missing` is what to say, and what to say at the field, when the note is required but empty.
    """
    text = (text or "").strip()
    # PostgreSQL text holds no NUL character
    if "\x00" in text:
        raise InvalidInput(f"The {field} is not valid.", fields={field: ["Null characters are not allowed."]})
    if missing is not None and not text:
        detail, at_field = missing
        raise InvalidInput(detail, fields={field: [at_field]})
    if max_chars is not None and len(text) > max_chars:
        raise InvalidInput(f"Keep the {field} short.", fields={field: [f"At most {max_chars} characters."]})
    return text
