from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from portal.accounts import services


@receiver(user_logged_out)
def forget_provider_session(sender, request, user, **kwargs):
    """Forget the link to the provider session when a portal session ends by sign-out."""
    if request is not None and hasattr(request, "session"):
        services.sign_in_session_forget(session_key=request.session.session_key)
