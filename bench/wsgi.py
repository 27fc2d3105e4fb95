"""The portal's WSGI application as the benchmark serves it: debugging extras (the query log) off.

The environment keeps `DJANGO_DEBUG=1` only so that static files need no `collectstatic` manifest.
"""

from django.conf import settings

from portal.wsgi import application

settings.DEBUG = False

__all__ = ["application"]
