"""gunicorn's configuration for the `web` service: workers from the CPU count, JSON logs, no query strings."""

import multiprocessing
import os

from portal.core.heap import settle_heap
from portal.logging import logging_config

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Two per core plus one (gunicorn's advice for sync workers); WEB_CONCURRENCY overrides it.
workers = int(os.environ.get("WEB_CONCURRENCY") or 0) or multiprocessing.cpu_count() * 2 + 1
worker_class = "sync"
# A request that takes longer than this has its worker restarted; Vault calls time out well before.
timeout = int(os.environ.get("GUNICORN_TIMEOUT_SECONDS") or 30)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
# The TLS-terminating proxy sits in front; its X-Forwarded-* headers are trusted from any peer inside
# the container network, which only the proxy and the other services can reach.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "*")

# The runtime control socket is not needed, and the container's file system is read-only.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
# %(U)s is the path without its query string: a query can hold a secret or personal data.
access_log_format = "%(m)s %(U)s %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s"

# gunicorn's own loggers go through the portal's JSON formatter and secret-redacting filter too.
logconfig_dict = logging_config(
    handlers_stream="ext://sys.stdout",
    loggers={
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
)

wsgi_app = "portal.wsgi:application"
# The master loads the portal once and each worker is a fork of it: a worker starts, and replaces one that
# reached max_requests, in a few milliseconds instead of a second of CPU re-importing Django and the portal
# (which, at start, took the cores from the workers already serving), and the workers share the loaded code's
# memory. Loading opens no connection (tests/prod/test_gunicorn.py): each worker opens its own to PostgreSQL,
# Redis and Vault on its first call.
preload_app = True


def when_ready(server):
    """Once the master has loaded the portal, before it forks a worker: the startup objects are frozen out of
    garbage collection in the master, so that no worker's collection walks them or copies their memory."""
    settle_heap()


def post_worker_init(worker):
    """Once the worker is ready: what it made since the fork is settled too."""
    settle_heap()
