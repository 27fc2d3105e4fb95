from django.contrib import admin
from django.urls import include, path

from portal.access import views as access_views
from portal.core import views as core_views

urlpatterns = [
    path("", access_views.my_access, name="home"),
    path("access/", include("portal.access.urls")),
    path("reviews/", include("portal.reviews.urls")),
    path("break-glass/", include("portal.breakglass.urls")),
    path("slack/", include("portal.chatops.urls")),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", core_views.prometheus_metrics, name="metrics"),
    path("health/", core_views.health_page, name="health"),
    path("", include("portal.accounts.urls")),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("api/v1/", include("portal.api_urls")),
    path("admin/", admin.site.urls),
]

handler404 = "portal.core.views.page_not_found"
handler500 = "portal.core.views.server_error"
