"""Slack's interactivity endpoint: the Approve and Deny buttons of the approvers' messages land here."""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.chatops import services
from portal.core.errors import DomainError


@csrf_exempt  # Slack cannot send a CSRF token; the request's signature authenticates it instead.
@require_POST
def slack_interactivity(request):
    try:
        services.slack_interaction_handle(
            body=request.body,
            timestamp=request.headers.get("X-Slack-Request-Timestamp"),
            signature=request.headers.get("X-Slack-Signature"),
            http_request=request,
        )
    except DomainError as error:
        return JsonResponse({"error": error.code, "detail": error.detail}, status=error.status)
    # Slack wants an empty 200 within 3 seconds; the message is updated by a worker.
    return HttpResponse(status=200)
