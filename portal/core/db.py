"""What the apps' services share about the database, and how a web request or a task keeps its connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core import signals
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.query import ModelIterable, get_related_populators
from django.db.transaction import TransactionManagementError

from portal.core.errors import NotFound


def lock_row(queryset: QuerySet, pk: int, *, missing: str) -> Model:
    """Return row `pk` of `queryset`, locked for the rest of the transaction; raise NotFound(`missing`) if absent.

    Only the row itself is locked (`of=("self",)`), not the rows it is joined with for reading, so that a
    transition never waits on, or holds, the role or the person it names.
    """
    return _found(_locking(queryset, pk).first(), missing)


def _locking(queryset: QuerySet, pk: int) -> QuerySet:
    return queryset.select_for_update(of=("self",)).filter(pk=pk)


def _found(row: Model | None, missing: str) -> Model:
    if row is None:
        raise NotFound(missing)
    return row


# A connection that served a web request or a task without error this recently is not health-checked again
# before the next (CONN_HEALTH_CHECKS costs a round trip each: a tenth of a simple API call's). Should the
# database have gone in between, the next one fails on its first query, the connection is dropped at its end,
# and the one after it opens a new connection.
HEALTHY_FOR_SECONDS = 1.0
_clean_ends = threading.local()  # Django's connections are per thread: so are the moments they ended clean


def note_clean_ends(**kwargs) -> None:
    """After Django has closed the broken and old connections at the end of a request or task, note which are left
    clean: an error since the last commit makes Django check the connection there and then (`health_check_done`)."""
    _clean_ends.at = {
        db.alias: time.monotonic()
        for db in connections.all(initialized_only=True)
        if db.connection is not None and not db.health_check_done
    }


def skip_recent_health_checks(**kwargs) -> None:
    """After Django has readied the connections for a request or task, spare the health check of those that ended
    clean within HEALTHY_FOR_SECONDS."""
    ended = getattr(_clean_ends, "at", {})
    for db in connections.all(initialized_only=True):
        if db.connection is not None and time.monotonic() - ended.get(db.alias, float("-inf")) < HEALTHY_FOR_SECONDS:
            db.health_check_done = True


# After Django's own receiver, `close_old_connections`, which was connected when `django.db` was imported.
signals.request_started.connect(skip_recent_health_checks, dispatch_uid="portal.core.db.skip_recent_health_checks")
signals.request_finished.connect(note_clean_ends, dispatch_uid="portal.core.db.note_clean_ends")


class Compiled:
    """A read of one shape, compiled to SQL once per process and database, then run with new values each time.

    The ORM compiles a queryset anew whenever it is evaluated: about 1 ms of CPU for a select with one join, four
    times what sending it and reading the answer take. For the reads that nearly every call makes (the session,
    the caller, the roles), that was a large part of the call.

    A read that locks its rows (`select_for_update`) is refused outside a transaction at every run, as the ORM
    refuses it at every evaluation.

    `build` makes the queryset from its values. It is built once, with stand-ins of the kinds given (`str`, `int`,
    `datetime`, `list` for a list of IDs, or `list[str]` for a list of strings such as a person's groups); where
    each stand-in lands among the SQL's parameters is where its value goes at every run, as its kind. A stand-in
    that lands nowhere, or changed (a lookup that wraps its value, such as `contains`), is refused when the read is
    compiled. The rows become models as the ORM makes them: the fields' converters, `select_related`, `only`,
    annotations. `count` counts them instead, as the queryset's `count()` does.
    """

    def __init__(self, build: Callable[..., QuerySet], **kinds: type):
        self._build = build
        self._kinds = kinds
        self._shapes: dict[str, _Shape] = {}
        self._counts: dict[str, tuple[str, list]] = {}

    def __call__(self, **values) -> list[Model]:
        """Return the models of the read's rows for `values`."""
        shape = self._shapes.get(DEFAULT_DB_ALIAS) or self._compile(DEFAULT_DB_ALIAS)
        params = self._params(shape.params, values)
        connection = connections[DEFAULT_DB_ALIAS]
        if shape.locks and connection.get_autocommit():
            # As the ORM refuses it at every evaluation: outside a transaction the lock would end with the read.
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with connection.cursor() as cursor:
            cursor.execute(shape.sql, params)
            rows = cursor.fetchall()
        return [shape.model_of(row) for row in shape.compiler.apply_converters(rows, shape.converters)]

    def first(self, **values) -> Model | None:
        """Return the model of the read's first row for `values`, or None."""
        found = self(**values)
        return found[0] if found else None

    def count(self, **values) -> int:
        """Return how many rows the read has for `values`, as the queryset's `count()` would, in one query whose
        SQL is compiled once too (the read's rows, only their IDs, counted)."""
        sql, parts = self._counts.get(DEFAULT_DB_ALIAS) or self._compile_count(DEFAULT_DB_ALIAS)
        params = self._params(parts, values)
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def _params(self, parts: list, values: dict) -> list:
        if values.keys() != self._kinds.keys():
            raise TypeError(f"A compiled read takes {sorted(self._kinds)}, not {sorted(values)}.")
        values = {name: _as_kind(self._kinds[name], name, value) for name, value in values.items()}
        return [values[part.name] if isinstance(part, _Place) else part for part in parts]

    def _built(self) -> tuple[QuerySet, dict]:
        stand_ins = {name: _stand_in(name, kind, index) for index, (name, kind) in enumerate(self._kinds.items())}
        return self._build(**stand_ins), stand_ins

    def _compile(self, alias: str) -> _Shape:
        queryset, stand_ins = self._built()
        if queryset._prefetch_related_lookups or queryset._known_related_objects:
            raise ValueError("A compiled read cannot prefetch: prefetch after it.")
        if queryset._iterable_class is not ModelIterable:
            raise ValueError("A compiled read returns models, not values.")
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        parts = _places(params, stand_ins)
        shape = _Shape(sql=sql, params=parts, compiler=compiler, alias=alias, locks=queryset.query.select_for_update)
        self._shapes[alias] = shape
        return shape

    def _compile_count(self, alias: str) -> tuple[str, list]:
        queryset, stand_ins = self._built()
        if queryset.query.select_for_update:
            raise ValueError("A compiled count does not lock: count the rows a read has locked.")
        ids = (queryset if queryset.query.is_sliced else queryset.order_by()).values("pk")
        sql, params = ids.query.get_compiler(using=alias).as_sql()
        counted = (f"SELECT COUNT(*) FROM ({sql}) AS counted", _places(params, stand_ins))
        self._counts[alias] = counted
        return counted


def _places(params, stand_ins: dict) -> list:
    """Return the SQL's parameters with each stand-in's replaced by its place; refuse a stand-in that lands nowhere."""
    parts = [_place_of(param, stand_ins) for param in params]
    landed = {part.name for part in parts if isinstance(part, _Place)}
    if landed != set(stand_ins):
        raise ValueError(f"The values {sorted(set(stand_ins) - landed)} are not parameters of the SQL as given.")
    return parts


def ids_in(ids: list[int]) -> RawSQL:
    """Return `ids` as a subquery of one array parameter, for `field__in=ids_in(ids)` in a compiled read: an `IN`
    list would have as many parameters as IDs, so its SQL would change with their number."""
    return RawSQL("SELECT unnest(%s::bigint[])", (ids,))


class RowLock:
    """`lock_row` of one queryset, compiled once (`Compiled`): for the lock that nearly every transition takes.

    `queryset` makes the queryset whose rows are locked, as `lock_row` is given it.
    """

    def __init__(self, queryset: Callable[[], QuerySet]):
        self._read = Compiled(lambda pk: _locking(queryset(), pk), pk=int)

    def __call__(self, pk: int, *, missing: str) -> Model:
        """Return row `pk`, locked for the rest of the transaction; raise NotFound(`missing`) if absent."""
        return _found(self._read.first(pk=pk), missing)


@dataclass(frozen=True)
class _Place:
    name: str


class _Shape:
    """A compiled read: its SQL, where its values go, and how its rows become models (as `ModelIterable` does)."""

    def __init__(self, *, sql: str, params: list, compiler, alias: str, locks: bool):
        self.sql, self.params, self.compiler, self.alias, self.locks = sql, params, compiler, alias, locks
        select, klass_info = compiler.select, compiler.klass_info
        self.converters = compiler.get_converters([column[0] for column in select[: compiler.col_count]])
        self.model = klass_info["model"]
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [column[0].target.attname for column in select[self.start : self.end]]
        self.populators = get_related_populators(klass_info, select, alias)
        self.annotations = dict(compiler.annotation_col_map or {})

    def model_of(self, row) -> Model:
        obj = self.model.from_db(self.alias, self.init_list, row[self.start : self.end])
        for populator in self.populators:
            populator.populate(row, obj)
        for name, position in self.annotations.items():
            setattr(obj, name, row[position])
        return obj


def _stand_in(name: str, kind: type, index: int):
    """A value of `kind` that no real one equals, to find where `name` lands among the SQL's parameters."""
    if kind is str:
        return f"\x00{name}\x00"
    if kind is int:
        # Within a 32-bit integer's range: the ORM turns a lookup beyond its field's range into "no rows".
        return -2_000_000_000 + index
    if kind is datetime:
        return datetime(1900, 1, 1, tzinfo=UTC) + timedelta(microseconds=index)
    if kind == list[str]:
        return [f"\x00{name}\x00"]
    if kind is list:
        return [-2_000_000_000 + index]
    raise TypeError(
        f"A compiled read's values are str, int, datetime, list (of int) or list[str], not {kind.__name__} ({name})."
    )


def _as_kind(kind: type, name: str, value):
    """Return `value` as its stand-in's kind: what the ORM's lookup would have made of it."""
    if kind is datetime:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise TypeError(f"{name} is an aware datetime, not {value!r}.")
        return value
    if kind == list[str]:
        return [str(item) for item in value]
    if kind is list:
        return [int(item) for item in value]
    return kind(value)


def _place_of(param, stand_ins: dict):
    """Return the place of the value whose stand-in `param` is, or `param` itself: a constant of the query."""
    for name, stand_in in stand_ins.items():
        # A list is passed on as it is (an array: `RawSQL("... = ANY(%s)", (ids,))`), so it is the same object,
        # or as a copy of its items (`has_any_keys` makes each a string): an equal list.
        if param is stand_in or (type(param) is type(stand_in) and param == stand_in):
            return _Place(name)
    return param
