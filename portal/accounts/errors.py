"""Why a browser sign-in or an API bearer token was refused."""

from rest_framework.exceptions import APIException

from portal.core.errors import DomainError


class SignInRefused(DomainError):
    """The sign-in was refused."""

    code = "sign_in_refused"
    status = 401

    def __init__(self, detail: str, *, status: int | None = None, reason: str = "", **extra):
        super().__init__(detail, **extra)
        if status is not None:
            self.status = status
        # The technical reason goes to the log only; `detail` is what the person reads.
        self.reason = reason or detail


class TokenRefused(SignInRefused, APIException):
    """The bearer access token was refused.

    Also an `APIException`, so that DRF treats the request as anonymous after the
    refusal; the API's error handler answers with this error's status and detail.
    """

    code = "invalid_token"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        reason: str = "",
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra,
    ):
        super().__init__(detail, status=status, reason=reason, **extra)
        self.status_code = self.status
        if code is not None:
            self.code = code
        # Response headers the API's error handler sets (`WWW-Authenticate` of a claims challenge).
        self.headers = headers or {}
