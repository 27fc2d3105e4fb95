"""The demo's Entra ID stand-in: oidc-provider-mock, whose key set also holds the demo's API signing key.

`python -m portal.devstack.entra --port 9400 --api-jwks FILE --user-claims JSON ...` runs the
provider as its own command does; the key set it serves (`/jwks`) adds the keys of FILE, read
at every request, so the access tokens of `python -m portal.devstack token` verify like Entra's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path


class _WithApiKeys:
    """WSGI middleware: answer `/jwks` with the provider's keys and those of the API key set file."""

    def __init__(self, app, jwks_file: Path):
        self.app = app
        self.jwks_file = jwks_file

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/jwks" or environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        answered = {}

        def capture(status, headers, exc_info=None):
            answered["status"], answered["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        if not answered["status"].startswith("200"):
            start_response(answered["status"], answered["headers"])
            return [body]
        keys = json.loads(body)
        keys["keys"] = [*keys.get("keys", []), *json.loads(self.jwks_file.read_text())["keys"]]
        raw = json.dumps(keys).encode()
        headers = [(name, value) for name, value in answered["headers"] if name.lower() != "content-length"]
        start_response(answered["status"], [*headers, ("Content-Length", str(len(raw)))])
        return [raw]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.devstack.entra", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--api-jwks", type=Path, required=True, help="a JWKS file whose keys are published too")
    parser.add_argument("--user-claims", action="append", default=[], help="a user's claims as JSON, with `sub`")
    args = parser.parse_args(argv)

    import oidc_provider_mock
    import uvicorn

    users = []
    for raw in args.user_claims:
        claims = json.loads(raw)
        users.append(oidc_provider_mock.User(sub=claims.pop("sub"), claims=claims))
    # The issuer is plain HTTP on loopback, as in the provider's own command.
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    app = oidc_provider_mock.app(require_nonce=True, user_claims=users)
    app.wsgi_app = _WithApiKeys(app.wsgi_app, args.api_jwks)
    uvicorn.run(app, interface="wsgi", host=args.host, port=args.port, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
