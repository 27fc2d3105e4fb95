from django.urls import path

from portal.reviews import views

app_name = "reviews"

urlpatterns = [
    path("", views.campaigns, name="campaigns"),
    path("<int:campaign_id>/", views.campaign_detail, name="campaign-detail"),
    path("items/<int:item_id>/decide/", views.item_decide, name="item-decide"),
    path("removals.csv", views.removals_export, name="removals-export"),
    path("right-sizing/", views.rightsizing, name="rightsizing"),
    path("right-sizing.csv", views.rightsizing_export, name="rightsizing-export"),
]
