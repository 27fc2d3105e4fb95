"""Break-glass figures for /metrics, read from the database at scrape time."""

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from portal.breakglass.models import BreakGlassUse
from portal.core.clock import now


class BreakGlassCollector:
    """Collect break-glass uses by role and review state, and the grants and reviews open now."""

    def collect(self):
        uses = CounterMetricFamily(
            "latchkey_break_glass_uses", "Break-glass activations, by role and review state.", labels=["role", "review"]
        )
        rows = BreakGlassUse.objects.order_by().values_list("role__slug", "review_state").annotate(n=Count("id"))
        for role, review, count in rows:
            uses.add_metric([role, review], count)
        yield uses
        yield GaugeMetricFamily(
            "latchkey_break_glass_active_grants",
            "Break-glass grants whose credentials are live now.",
            value=BreakGlassUse.objects.filter(request__state="active").count(),
        )
        yield GaugeMetricFamily(
            "latchkey_break_glass_reviews_overdue",
            "Break-glass uses not reviewed by their due time.",
            value=BreakGlassUse.objects.filter(review_state="pending", review_due_at__lte=now()).count(),
        )
