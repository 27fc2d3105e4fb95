from django.urls import path

from portal.accounts import views

urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/front-channel/", views.front_channel_logout, name="front-channel-logout"),
]
