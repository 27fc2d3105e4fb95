from django.urls import path, re_path

from portal.access import views

app_name = "access"

urlpatterns = [
    path("", views.my_access, name="my-access"),
    path("requests/new/<slug:slug>/", views.request_new, name="request-new"),
    path("requests/<int:request_id>/", views.request_detail, name="request-detail"),
    path("requests/<int:request_id>/live/", views.request_live, name="request-live"),
    path("requests/<int:request_id>/approve/", views.request_approve, name="request-approve"),
    path("requests/<int:request_id>/deny/", views.request_deny, name="request-deny"),
    path("requests/<int:request_id>/cancel/", views.request_cancel, name="request-cancel"),
    path("requests/<int:request_id>/extend/", views.request_extend, name="request-extend"),
    path("requests/<int:request_id>/reveal/", views.request_reveal, name="request-reveal"),
    path("requests/<int:request_id>/revoke/", views.request_revoke, name="request-revoke"),
    path("grants/", views.grants_active, name="grants-active"),
    path("grants/revoke/", views.grants_revoke_bulk, name="grants-revoke-bulk"),
    path("review/", views.review_queue, name="review-queue"),
    path("audit/", views.audit_history, name="audit-history"),
    re_path(r"^audit/export\.(?P<fmt>csv|json)$", views.audit_export, name="audit-export"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
