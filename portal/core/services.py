from portal.core import clock
from portal.core.models import Heartbeat


def heartbeat_record(*, name: str) -> Heartbeat:
    """Record that the component `name` is alive now."""
    beat, _ = Heartbeat.objects.update_or_create(name=name, defaults={"at": clock.now()})
    return beat
