from portal.core.clock import now
from portal.core.models import Heartbeat


def heartbeat_record(*, name: str) -> Heartbeat:
    """Record that the component `name` is alive now."""
    beat, _ = Heartbeat.objects.update_or_create(name=name, defaults={"at": now()})
    return beat
