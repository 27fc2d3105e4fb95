"""The JSON API under /api/v1/: each app adds its endpoints here."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from portal.accounts.api import MeView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("me", MeView.as_view(), name="api-me"),
]
