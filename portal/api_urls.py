"""The JSON API under /api/v1/: each app adds its endpoints here."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from portal.access import api as access_api
from portal.accounts.api import MeView
from portal.breakglass import api as breakglass_api
from portal.reviews import api as reviews_api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("me", MeView.as_view(), name="api-me"),
    path("roles", access_api.RolesView.as_view(), name="api-roles"),
    path("requests", access_api.RequestsView.as_view(), name="api-requests"),
    path("requests/<int:request_id>", access_api.RequestDetailView.as_view(), name="api-request"),
    path("requests/<int:request_id>/approve", access_api.ApproveView.as_view(), name="api-request-approve"),
    path("requests/<int:request_id>/deny", access_api.DenyView.as_view(), name="api-request-deny"),
    path("requests/<int:request_id>/cancel", access_api.CancelView.as_view(), name="api-request-cancel"),
    path("requests/<int:request_id>/extend", access_api.ExtendView.as_view(), name="api-request-extend"),
    path("requests/<int:request_id>/revoke", access_api.RevokeView.as_view(), name="api-request-revoke"),
    path("requests/<int:request_id>/credentials", access_api.CredentialsView.as_view(), name="api-request-credentials"),
    path("grants/revoke", access_api.BulkRevokeView.as_view(), name="api-grants-revoke"),
    path("audit", access_api.AuditView.as_view(), name="api-audit"),
    path("reviews/campaigns", reviews_api.CampaignsView.as_view(), name="api-reviews-campaigns"),
    path("reviews/campaigns/<int:campaign_id>", reviews_api.CampaignDetailView.as_view(), name="api-reviews-campaign"),
    path("reviews/items/<int:item_id>/decide", reviews_api.DecideView.as_view(), name="api-reviews-decide"),
    path("reviews/removals", reviews_api.RemovalsView.as_view(), name="api-reviews-removals"),
    path("reviews/rightsizing", reviews_api.RightSizingView.as_view(), name="api-reviews-rightsizing"),
    path("roles/<slug:slug>/break-glass", breakglass_api.ActivateView.as_view(), name="api-break-glass"),
    path("break-glass/reviews", breakglass_api.ReviewsView.as_view(), name="api-break-glass-reviews"),
    path("break-glass/<int:use_id>/confirm", breakglass_api.ConfirmView.as_view(), name="api-break-glass-confirm"),
    path("break-glass/<int:use_id>/flag", breakglass_api.FlagView.as_view(), name="api-break-glass-flag"),
]
