"""Sign-in with Entra ID through mozilla-django-oidc."""

from mozilla_django_oidc.auth import OIDCAuthenticationBackend


class EntraIDBackend(OIDCAuthenticationBackend):
    """Authenticate people from the verified ID token of Entra ID."""
