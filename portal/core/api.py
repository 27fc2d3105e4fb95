"""Shared pieces of the JSON API: errors are always `{"error": code, "detail": text}`."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.core.errors import DomainError, InvalidInput

_DRF_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def error_response(code: str, detail: str, status_code: int, **extra) -> Response:
    return Response({"error": code, "detail": detail, **extra}, status=status_code)


def valid_body(serializer_class, data) -> dict:
    """Return the request body as `serializer_class` validates it, or raise InvalidInput naming each bad field."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise InvalidInput(
            "The request body is not valid.",
            fields={name: [str(text) for text in texts] for name, texts in serializer.errors.items()},
        )
    return serializer.validated_data


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def exception_handler(exc, context):
    """Turn domain errors and DRF's own errors into the API's error body, always as JSON."""
    response = _error_for(exc, context)
    request = context.get("request")
    if response is not None and request is not None:
        # An error answers in JSON even when the caller asked for another format (`?format=csv`).
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    return response


def _error_for(exc, context):
    if isinstance(exc, DomainError):
        extra = dict(exc.extra)
        if isinstance(exc, InvalidInput) and exc.fields:
            extra["fields"] = exc.fields
        response = error_response(exc.code, exc.detail, exc.status, **extra)
        for name, value in getattr(exc, "headers", {}).items():
            response[name] = value
        return response
    if isinstance(exc, Http404):
        return error_response("not_found", "Not found.", status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        return error_response("forbidden", "You are not allowed to do this.", status.HTTP_403_FORBIDDEN)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = status.HTTP_401_UNAUTHORIZED
    code = _DRF_CODES.get(response.status_code, "error")
    body = {"error": code, "detail": _flatten(response.data.get("detail", response.data))}
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        body["fields"] = exc.detail
    response.data = body
    return response
