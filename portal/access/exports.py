"""Stream audit events as CSV or JSON: one writer for the history page's exports and the audit API's CSV."""

import csv
import json

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from rest_framework import serializers

# The columns of AuditEventSerializer, in its order, and where each comes from in the table.
COLUMNS = ["id", "at", "actor", "action", "request", "role", "ip", "user_agent", "details", "hash"]
_SOURCES = ["id", "at", "actor_label", "action", "request_id", "role__slug", "ip", "user_agent", "details", "hash"]
_AT = COLUMNS.index("at")
# A few hundred rows per write: one write per row costs a system call each.
_ROWS_PER_CHUNK = 500


class _Echo:
    def write(self, value):
        return value


def csv_cell(value) -> str:
    """Return `value` as a CSV cell that no spreadsheet evaluates as a formula."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    text = "" if value is None else str(value)
    # A leading =, +, - or @ would make a spreadsheet evaluate the cell; a leading tab or carriage
    # return hides one of them from a check of the first character only.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _values(events: QuerySet):
    """Yield each event as a list of plain values, formatted as AuditEventSerializer formats them.

    Building a serializer (and a model instance) per row made an export of a million events take minutes.
    """
    at = serializers.DateTimeField()
    for row in events.values_list(*_SOURCES).iterator(chunk_size=2000):
        values = list(row)
        values[_AT] = at.to_representation(values[_AT])
        yield values


def _chunked(lines):
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) == _ROWS_PER_CHUNK:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


def csv_chunks(events: QuerySet):
    """Yield `events` as CSV text, a header row then a few hundred rows per chunk."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    yield from _chunked(writer.writerow([csv_cell(value) for value in values]) for values in _values(events))


def json_chunks(events: QuerySet):
    """Yield `events` as one JSON array, one object per line, a few hundred per chunk."""
    yield "["
    yield from _chunked(
        ("," if index else "") + "\n" + json.dumps(dict(zip(COLUMNS, values, strict=True)))
        for index, values in enumerate(_values(events))
    )
    yield "\n]\n"


def streamed(events: QuerySet, fmt: str, *, filename: str, csv_type: str = "text/csv") -> StreamingHttpResponse:
    """Return a download of `events` as "csv" or "json", streamed so that its size does not matter."""
    if fmt == "csv":
        response = StreamingHttpResponse(csv_chunks(events), content_type=csv_type)
    else:
        response = StreamingHttpResponse(json_chunks(events), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response
