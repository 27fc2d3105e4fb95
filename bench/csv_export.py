"""Export the whole audit trail as CSV in a process of its own, and print its time and peak memory as JSON.

A process of its own, so that its peak resident memory is the export's and nothing else's. Django's
settings come from the environment the benchmark passes (the same stack and database).
"""

import json
import os
import resource
import sys
import time


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    # Static files stay as the environment chose them; debugging extras (the query log) are off.
    settings.DEBUG = False
    admin = get_user_model().objects.get(username=sys.argv[1])
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(admin)
    before_mb = _rss_mb()
    started = time.perf_counter()
    response = client.get("/api/v1/audit", {"format": "csv"})
    if response.status_code != 200:
        raise SystemExit(f"The export answered {response.status_code}.")
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": seconds, "peak_mb": peak_mb, "before_mb": before_mb, "bytes": size, "lines": lines},
        )
    )


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
