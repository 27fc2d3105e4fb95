"""Complete the OpenAPI schema with the error answers every endpoint can give.

drf-spectacular documents each view's success; the errors come from one place
(`portal.core.api.exception_handler`) and have one body, so they are added here
for every operation, by what the operation does.
"""

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error of the API has this body.",
    "properties": {
        "error": {"type": "string", "description": "A stable code, e.g. `invalid`, `forbidden`, `conflict`."},
        "detail": {"type": "string", "description": "What went wrong, for people."},
        "fields": {
            "type": "object",
            "description": "Per-field messages, on 400 for invalid input.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["error", "detail"],
    "additionalProperties": True,
}

_MEANINGS = {
    "400": "Invalid input: nothing was changed.",
    "401": "Not signed in, or the access token was refused.",
    "403": "Signed in, but not allowed to do this.",
    "404": "Unknown, or not visible to the caller.",
    "409": "The request is not in a state that allows this (or a duplicate).",
    "410": "The credentials were already revealed.",
    "413": "The request body is too large.",
    "429": "Too many calls: try again later.",
    "503": "Vault (or another system the portal needs) is unavailable: try again later.",
}

# Actions that move a request: they answer 409 when it is in the wrong state.
_TRANSITIONS = (
    "/approve",
    "/deny",
    "/cancel",
    "/revoke",
    "/extend",
    "/credentials",
    "/break-glass",
    "/confirm",
    "/flag",
)
# Actions counted by the rate limits.
_RATE_LIMITED = ("/approve", "/deny", "/credentials", "/break-glass", "/confirm", "/flag")


def _error_statuses(path: str, method: str) -> set[str]:
    statuses = {"401"}
    # Everyone signed in may read who they are and what they may request.
    if not path.endswith(("/me", "/roles")):
        statuses.add("403")
    if method == "post":
        statuses |= {"400", "413"}
    if method == "get" and path.endswith(("/requests", "/audit")):
        statuses.add("400")
    if "{" in path or (method == "post" and path.endswith("/requests")):
        statuses.add("404")
    if ("{" in path and path.endswith(_TRANSITIONS)) or (method == "post" and path.endswith("/requests")):
        statuses.add("409")
    if path.endswith(_RATE_LIMITED) or (method == "post" and path.endswith("/requests")):
        statuses.add("429")
    if path.endswith("/credentials"):
        statuses |= {"410", "503"}
    return statuses


def add_error_responses(result, generator, request, public):
    """Add the shared error body and each operation's error statuses to the schema."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(_error_statuses(path, method)):
                responses.setdefault(status, {"description": _MEANINGS[status], "content": reference})
    return result
