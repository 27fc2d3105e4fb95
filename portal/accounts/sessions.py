"""The browser's sessions: Django's sessions in the database, read with one compiled query (SESSION_ENGINE)."""

from datetime import datetime

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from portal.core.db import Compiled

# Every request of a signed-in browser reads its session first: compiled once.
_LIVE_SESSION = Compiled(
    lambda key, at: Session.objects.filter(session_key=key, expire_date__gt=at)[:1], key=str, at=datetime
)


class SessionStore(db.SessionStore):
    """Django's database sessions, whose read of a session by its key is compiled once per process."""

    def _get_session_from_db(self):
        found = _LIVE_SESSION.first(key=self.session_key, at=timezone.now()) if self.session_key else None
        if found is None:
            # As Django's own: a key that names no live session is forgotten, and a new one is made on save.
            self._session_key = None
        return found
