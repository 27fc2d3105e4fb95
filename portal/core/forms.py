"""What the pages share about forms: showing a service's refusal on the form that asked for it."""

from portal.core.errors import DomainError, InvalidInput


def add_refusal(form, error: DomainError, *, renames: dict[str, str] | None = None) -> None:
    """Show `error` on `form`: each field problem at its field, anything else above the form.

    `renames` maps a service's field name to the form's where they differ (`due_at` asked as `due_on`).
    """
    fields = error.fields if isinstance(error, InvalidInput) else {}
    for name, texts in fields.items():
        name = (renames or {}).get(name, name)
        for text in texts:
            form.add_error(name if name in form.fields else None, text)
    if not fields:
        form.add_error(None, error.detail)
