"""What the apps' services share about the database."""

from django.db.models import Model, QuerySet

from portal.core.errors import NotFound


def lock_row(queryset: QuerySet, pk: int, *, missing: str) -> Model:
    """Return row `pk` of `queryset`, locked for the rest of the transaction; raise NotFound(`missing`) if absent.

    Only the row itself is locked (`of=("self",)`), not the rows it is joined with for reading, so that a
    transition never waits on, or holds, the role or the person it names.
    """
    found = queryset.select_for_update(of=("self",)).filter(pk=pk).first()
    if found is None:
        raise NotFound(missing)
    return found
