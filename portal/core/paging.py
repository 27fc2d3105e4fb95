"""Pages of a long list whose first page, the one most people ask for, is read with SQL compiled once."""

from collections.abc import Callable

from django.core.paginator import Paginator


class FirstPageFirst(Paginator):
    """Django's paginator, except that the first page is read before the count: when it has room to spare,
    its rows are the whole list and their number is the count, without a COUNT query (most people's lists).

    `first_rows(limit)`, when given, reads the list's first `limit` rows (a compiled read); otherwise they are
    the list's own. A count given beforehand (`paginator.count = ...`) is kept, and the first page read alone.
    """

    def __init__(self, object_list, per_page, *args, first_rows: Callable[[int], list] | None = None, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        self._first_rows = first_rows or (lambda limit: list(self.object_list[:limit]))

    def page(self, number):
        if str(number) != "1":
            return super().page(number)
        counted = "count" in self.__dict__
        rows = self._first_rows(self.per_page if counted else self.per_page + 1)
        if not counted and len(rows) <= self.per_page:
            self.count = len(rows)
        return self._get_page(rows[: self.per_page], self.validate_number(1), self)
