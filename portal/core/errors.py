"""Domain errors: services raise them, views and the API turn them into statuses."""


class DomainError(Exception):
    """Base of the errors a service raises on purpose; `code` and `status` go to the API."""

    code = "error"
    status = 400

    def __init__(self, detail: str = "", **extra):
        super().__init__(detail)
        self.detail = detail or self.__class__.__doc__ or self.code
        self.extra = extra


class InvalidInput(DomainError):
    """The input is not valid."""

    code = "invalid"
    status = 400

    def __init__(self, detail: str = "", *, fields: dict[str, list[str]] | None = None, **extra):
        super().__init__(detail, **extra)
        self.fields = fields or {}


class NotAllowed(DomainError):
    """You are not allowed to do this."""

    code = "forbidden"
    status = 403


class NotFound(DomainError):
    """Not found."""

    code = "not_found"
    status = 404


class InvalidTransition(DomainError):
    """The request is not in a state that allows this."""

    code = "conflict"
    status = 409


class Gone(DomainError):
    """This is no longer available."""

    code = "gone"
    status = 410


class ServiceUnavailable(DomainError):
    """A system the portal depends on is unavailable; try again later."""

    code = "unavailable"
    status = 503
