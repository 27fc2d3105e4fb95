"""CSV downloads of access reviews: the memberships Entra admins should remove, and the right-sizing figures."""

import csv
import io

from django.http import HttpResponse

from portal.access.exports import csv_cell
from portal.reviews.rightsizing import FIELDS, RoleSizing
from portal.reviews.selectors import RemovalRow

REMOVAL_COLUMNS = [
    "campaign",
    "role",
    "person_upn",
    "person_object_id",
    "remove_from",
    "group_object_id",
    "reason",
    "decided_by",
    "decided_at",
    "decided_at_due_date",
]


def _csv(header: list[str], rows, filename: str) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    response["Cache-Control"] = "no-store"
    return response


def removal_values(row: RemovalRow) -> list:
    return [
        row.campaign_id,
        row.role_slug,
        row.upn,
        row.oid,
        row.membership,
        row.group_id,
        row.reason,
        row.decided_by,
        row.decided_at.isoformat() if row.decided_at else "",
        "yes" if row.overdue else "no",
    ]


def removals_csv(rows: list[RemovalRow], *, filename: str) -> HttpResponse:
    """Return the group memberships to remove in Entra ID, one per line."""
    return _csv(REMOVAL_COLUMNS, (removal_values(row) for row in rows), filename)


def rightsizing_csv(rows: list[RoleSizing]) -> HttpResponse:
    """Return the right-sizing figures, one role per line."""
    return _csv(FIELDS, ([getattr(row, name) for name in FIELDS] for row in rows), "latchkey-right-sizing")
