from django.urls import path

from portal.chatops import views

app_name = "chatops"

urlpatterns = [
    path("interactivity", views.slack_interactivity, name="slack-interactivity"),
]
