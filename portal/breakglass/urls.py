from django.urls import path

from portal.breakglass import views

app_name = "breakglass"

urlpatterns = [
    path("reviews/", views.review_queue, name="review-queue"),
    path("uses/<int:use_id>/confirm/", views.confirm, name="confirm"),
    path("uses/<int:use_id>/flag/", views.flag, name="flag"),
    path("activate/<slug:slug>/", views.activate, name="activate"),
]
