"""The `latchkey` command: ask for, approve, reveal, use and revoke time-boxed database access."""

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

from portal.cli.api import Portal, portal_url
from portal.cli.auth import SIGN_IN_HELP, access_token
from portal.cli.errors import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_NO_ACCESS,
    EXIT_OK,
    EXIT_TIMED_OUT,
    EXIT_USAGE,
    CliError,
)
from portal.cli.progress import Progress

WAITING_STATES = ("pending", "approved", "issuing")
ENDED_STATES = ("expired", "revoked", "denied", "cancelled", "failed", "revoking")
DEFAULT_TIMEOUT = "30m"

DESCRIPTION = f"""\
Ask for time-boxed database access through the Latchkey portal, and use it.

The portal's address comes from LATCHKEY_URL. {SIGN_IN_HELP}
LATCHKEY_TOKEN_CACHE (or --token-cache) keeps the sign-in between commands in a file;
without it nothing is written to disk."""

EXAMPLES = """\
examples:
  latchkey roles
  latchkey request orders-readwrite --duration 30m --justification "Fix order 1042" --wait
  latchkey credentials 12 --format env
  latchkey run orders-readwrite --duration 15m --justification "Deploy 4.2: migrate" -- ./manage.py migrate
  latchkey review
  latchkey deny 12 --comment "Use the read replica"
  latchkey break-glass orders-admin --incident INC-4711 -j "Orders database down, restoring" --wait
"""


# ----- parsing helpers -----


def parse_duration(text: str) -> int:
    """Return the minutes of a duration written `90`, `30m`, `2h` or `1h30m`."""
    match = re.fullmatch(r"\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m?)?\s*", text or "")
    if not text or not text.strip() or match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; write it as 90, 30m, 2h or 1h30m")
    hours, minutes = (int(part) if part else 0 for part in match.groups())
    total = hours * 60 + minutes
    if total < 1:
        raise argparse.ArgumentTypeError("a duration is at least one minute")
    return total


def _request_id(text: str) -> int:
    value = text.lstrip("#")
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a request ID (a whole number)")
    return int(value)


# ----- output -----


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _describe(request: dict) -> str:
    approvals = [item for item in request.get("approvals", []) if item.get("decision") == "approve"]
    lines = [
        f"#{request['id']}  {request['role']}  {request['state']}",
        f"  requester      {request['requester']}",
        f"  duration       {request['duration_minutes']} min",
        f"  justification  {request['justification']}",
    ]
    if request.get("ticket"):
        lines.append(f"  ticket         {request['ticket']}")
    if request.get("starts_at"):
        lines.append(f"  starts         {request['starts_at']}")
    if request.get("ends_at"):
        lines.append(f"  ends           {request['ends_at']}")
    for approval in request.get("approvals", []):
        comment = f": {approval['comment']}" if approval.get("comment") else ""
        lines.append(f"  {approval['decision']:<14} {approval['approver']} at {approval['at']}{comment}")
    if request["state"] == "pending" and not approvals:
        lines.append("  waiting for approval")
    return "\n".join(lines)


def credentials_text(creds: dict, fmt: str) -> str:
    """Return the credentials in format `fmt`: text, env, json, uri or pgpass."""
    if fmt == "json":
        return json.dumps(creds, indent=2, sort_keys=True)
    if fmt == "uri":
        return creds["connection_uri"]
    if fmt == "pgpass":

        def escape(value) -> str:
            return str(value).replace("\\", "\\\\").replace(":", "\\:")

        fields = (creds["host"], creds["port"], creds["database"], creds["username"], creds["password"])
        return ":".join(escape(value) for value in fields)
    if fmt == "env":
        return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in connection_env(creds).items())
    return "\n".join(
        [
            f"username  {creds['username']}",
            f"password  {creds['password']}",
            f"host      {creds['host']}",
            f"port      {creds['port']}",
            f"database  {creds['database']}",
            f"uri       {creds['connection_uri']}",
            f"expires   {creds['expires_at']}",
        ]
    )


def connection_env(creds: dict) -> dict[str, str]:
    """Return the environment variables PostgreSQL clients and most frameworks read."""
    return {
        "PGHOST": str(creds["host"]),
        "PGPORT": str(creds["port"]),
        "PGDATABASE": str(creds["database"]),
        "PGUSER": str(creds["username"]),
        "PGPASSWORD": str(creds["password"]),
        "DATABASE_URL": str(creds["connection_uri"]),
    }


# ----- waiting -----


def wait_for_access(portal: Portal, request: dict, *, timeout_minutes: int, poll_seconds: float) -> dict:
    """Poll the request until its credentials can be revealed (`active`); show progress on standard error."""
    deadline = time.monotonic() + timeout_minutes * 60
    with Progress(f"#{request['id']} {request['role']}") as progress:
        while True:
            progress.update(_waiting_for(request))
            if request["state"] == "active":
                return request
            if request["state"] in ENDED_STATES:
                progress.done(f"#{request['id']} is {request['state']}")
                reason = _last_decision(request)
                raise CliError(
                    f"Request #{request['id']} is {request['state']}{reason}; no access was granted.",
                    exit_code=EXIT_NO_ACCESS,
                )
            if time.monotonic() >= deadline:
                raise CliError(
                    f"Gave up waiting after {timeout_minutes} min: request #{request['id']} is still "
                    f"{request['state']}. It stays open; see `latchkey status {request['id']}`.",
                    exit_code=EXIT_TIMED_OUT,
                )
            time.sleep(poll_seconds)
            request = portal.get(f"requests/{request['id']}")


def _waiting_for(request: dict) -> str:
    state = request["state"]
    if state == "pending":
        approvals = sum(1 for item in request.get("approvals", []) if item.get("decision") == "approve")
        return f"waiting for approval ({approvals} so far)"
    if state == "approved":
        return "approved; waiting for the start" if request.get("starts_at") else "approved; issuing credentials"
    if state == "issuing":
        return "issuing credentials" + (" (Vault is slow; retrying)" if request.get("waiting_for_vault") else "")
    return state


def _last_decision(request: dict) -> str:
    denials = [item for item in request.get("approvals", []) if item.get("decision") == "deny"]
    if denials and denials[-1].get("comment"):
        return f" ({denials[-1]['approver']}: {denials[-1]['comment']})"
    return ""


# ----- commands -----


def cmd_roles(portal: Portal, args) -> int:
    roles = portal.get("roles")
    if args.json:
        _print_json(roles)
        return EXIT_OK
    if not roles:
        print("You are not eligible for any role.", file=sys.stderr)
        return EXIT_OK
    for role in roles:
        approvals = role["approvals_required"]
        approval_text = "auto-approved" if approvals == 0 else f"{approvals} approval{'s' * (approvals > 1)}"
        ticket = ", ticket required" if role["ticket_required"] else ""
        glass = role.get("break_glass")
        emergency = f"; break-glass up to {glass['max_minutes']} min" if glass else ""
        print(
            f"{role['slug']:<24} {role['name']} "
            f"({approval_text}, up to {role['max_duration_minutes']} min{ticket}{emergency})"
        )
    return EXIT_OK


def _with_duration(body: dict, args) -> dict:
    """Add the asked duration to `body`, when one was given (else the role's default applies)."""
    if args.duration is not None:
        body["duration_minutes"] = args.duration
    return body


def _wait_if_asked(portal: Portal, request: dict, args) -> dict:
    """With --wait, return the request once it is active (saying how to see the credentials), else as it is."""
    if not args.wait:
        return request
    request = wait_for_access(portal, request, timeout_minutes=args.timeout, poll_seconds=args.poll)
    print(
        f"Request #{request['id']} is active until {request['ends_at']}: "
        f"`latchkey credentials {request['id']}` shows the credentials once.",
        file=sys.stderr,
    )
    return request


def _show_created(item: dict, args) -> int:
    """Print what a command created: all of it with --json, else only its ID (for scripts)."""
    if args.json:
        _print_json(item)
    else:
        print(item["id"])
    return EXIT_OK


def _change(portal: Portal, args, action: str, done: str, body: dict | None = None) -> int:
    """POST `action` on request `args.id` and say `done` with the state it is in now."""
    request = portal.post(f"requests/{args.id}/{action}", body)
    print(f"{done} #{request['id']}; it is now {request['state']}.", file=sys.stderr)
    return EXIT_OK


def _create(portal: Portal, args) -> dict:
    body = _with_duration({"role": args.role, "justification": args.justification}, args)
    if args.ticket:
        body["ticket"] = args.ticket
    if getattr(args, "starts_at", None):
        body["starts_at"] = args.starts_at
    return portal.post("requests", body)


def cmd_request(portal: Portal, args) -> int:
    request = _create(portal, args)
    print(f"Request #{request['id']} for {request['role']} is {request['state']}.", file=sys.stderr)
    return _show_created(_wait_if_asked(portal, request, args), args)


def cmd_status(portal: Portal, args) -> int:
    request = portal.get(f"requests/{args.id}")
    if args.json:
        _print_json(request)
    else:
        print(_describe(request))
    return EXIT_OK


def cmd_approve(portal: Portal, args) -> int:
    return _change(portal, args, "approve", "Approved", {"comment": args.comment})


def cmd_deny(portal: Portal, args) -> int:
    return _change(portal, args, "deny", "Denied", {"comment": args.comment})


def cmd_cancel(portal: Portal, args) -> int:
    return _change(portal, args, "cancel", "Cancelled")


def cmd_extend(portal: Portal, args) -> int:
    body = _with_duration({"justification": args.justification}, args)
    extension = portal.post(f"requests/{args.id}/extend", body)
    print(f"Extension #{extension['id']} of #{args.id} is {extension['state']}.", file=sys.stderr)
    return _show_created(extension, args)


def _pages(portal: Portal, path: str, params: dict) -> list[dict]:
    """Return every item of a paginated list."""
    items, page = [], 1
    while True:
        answer = portal.get(path, {**params, "page": page})
        items += answer["results"]
        if not answer.get("next"):
            return items
        page += 1


def cmd_review(portal: Portal, args) -> int:
    requests = _pages(portal, "requests", {"scope": "to_review"})
    uses = portal.get("break-glass/reviews")
    if args.json:
        _print_json({"requests": requests, "break_glass": uses})
        return EXIT_OK
    if not requests and not uses:
        print("Nothing is waiting for your review.", file=sys.stderr)
        return EXIT_OK
    for request in requests:
        approvals = sum(1 for item in request.get("approvals", []) if item.get("decision") == "approve")
        print(
            f"#{request['id']:<6} {request['role']:<24} {request['requester']:<28} "
            f"{request['duration_minutes']} min  {approvals} approval{'s' * (approvals != 1)} so far  "
            f"{request['justification']}"
        )
    for use in uses:
        print(
            f"#{use['request']:<6} {use['role']:<24} {use['requester']:<28} BREAK-GLASS {use['incident']}  "
            f"review due {use['review_due_at']}"
        )
    return EXIT_OK


def cmd_break_glass(portal: Portal, args) -> int:
    body = _with_duration({"incident": args.incident, "justification": args.justification}, args)
    request = portal.post(f"roles/{args.role}/break-glass", body)
    print(
        f"BREAK-GLASS: #{request['id']} for {request['role']} is {request['state']}. The portal admins and the "
        "role's approvers have been told, and will review this use.",
        file=sys.stderr,
    )
    return _show_created(_wait_if_asked(portal, request, args), args)


def cmd_credentials(portal: Portal, args) -> int:
    creds = portal.post(f"requests/{args.id}/credentials")
    print(credentials_text(creds, args.format))
    if args.format == "text":
        print("These credentials are shown once; keep them safe until they expire.", file=sys.stderr)
    return EXIT_OK


def cmd_revoke(portal: Portal, args) -> int:
    return _change(portal, args, "revoke", "Revoking", {"reason": args.reason})


def cmd_run(portal: Portal, args) -> int:
    command = args.child
    request = _create(portal, args)
    print(f"Request #{request['id']} for {request['role']} is {request['state']}.", file=sys.stderr)
    try:
        request = wait_for_access(portal, request, timeout_minutes=args.timeout, poll_seconds=args.poll)
        creds = portal.post(f"requests/{request['id']}/credentials")
        env = {**os.environ, **connection_env(creds)}
        # The child must not use the portal token in its place: it gets the database credentials only.
        env.pop("LATCHKEY_TOKEN", None)
        print(f"Running {shlex.join(command)} with #{request['id']} until {request['ends_at']}.", file=sys.stderr)
        return _run_child(command, env)
    finally:
        _give_back(portal, request)


def _run_child(command: list[str], env: dict[str, str]) -> int:
    try:
        child = subprocess.Popen(command, env=env)
    except FileNotFoundError:
        print(f"latchkey: command not found: {command[0]}", file=sys.stderr)
        return 127
    except PermissionError:
        print(f"latchkey: permission denied: {command[0]}", file=sys.stderr)
        return 126

    def forward(signum, frame):
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        status = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # A child killed by a signal ends the way a shell reports it.
    return 128 - status if status < 0 else status


def _give_back(portal: Portal, request: dict) -> None:
    """End the access of `run`: cancel a request still pending, revoke one approved or active."""
    try:
        current = portal.get(f"requests/{request['id']}")
        if current["state"] == "pending":
            portal.post(f"requests/{request['id']}/cancel")
            print(f"Cancelled #{request['id']}.", file=sys.stderr)
        elif current["state"] in ("approved", "issuing", "active"):
            portal.post(f"requests/{request['id']}/revoke", {"reason": "latchkey run: the command ended"})
            print(f"Revoked #{request['id']}.", file=sys.stderr)
    except CliError as error:
        print(
            f"latchkey: could not end #{request['id']} ({error.message}). It ends by itself at the end of its "
            f"window; revoke it now with `latchkey revoke {request['id']}`.",
            file=sys.stderr,
        )


# ----- the command line -----


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="latchkey", description=DESCRIPTION, epilog=f"{EXAMPLES}\n{EXIT_CODES_HELP}", formatter_class=formatter
    )
    parser.add_argument("--url", default=None, help="the portal's address (default: LATCHKEY_URL)")
    parser.add_argument("--token-cache", default=None, help="keep the sign-in in this file (0600)")
    commands = parser.add_subparsers(dest="name", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help_text, description=description, epilog=EXIT_CODES_HELP, formatter_class=formatter
        )

    def ask_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("role", metavar="ROLE", help="the role's slug, as `latchkey roles` lists it")
        sub.add_argument("--justification", "-j", required=True, help="why you need access (at least 10 characters)")
        sub.add_argument(
            "--duration", "-d", type=parse_duration, default=None, help="90, 30m, 2h or 1h30m (default: the role's)"
        )
        sub.add_argument("--ticket", "-t", default="", help="a ticket reference, when the role requires one")
        sub.add_argument(
            "--timeout",
            type=parse_duration,
            default=parse_duration(DEFAULT_TIMEOUT),
            help=f"how long to wait for approval and issuing (default: {DEFAULT_TIMEOUT})",
        )
        sub.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)

    sub = command("roles", "list the roles you may request", "List the roles you may request.")
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.set_defaults(handler=cmd_roles)

    sub = command(
        "request",
        "ask for a role",
        "Ask for a role. Prints the request's ID on standard output (the whole request with --json).",
    )
    ask_options(sub)
    sub.add_argument("--starts-at", default=None, help="start later, at this ISO 8601 time (e.g. 2030-01-31T09:00Z)")
    sub.add_argument("--wait", action="store_true", help="wait until access is granted and issued")
    sub.add_argument("--json", action="store_true", help="print the request as JSON")
    sub.set_defaults(handler=cmd_request)

    sub = command("status", "show a request", "Show a request: its state, window and approvals.")
    sub.add_argument("id", type=_request_id, metavar="ID")
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.set_defaults(handler=cmd_status)

    sub = command("approve", "approve a request", "Approve someone else's request for a role you approve.")
    sub.add_argument("id", type=_request_id, metavar="ID")
    sub.add_argument("--comment", "-m", default="", help="a comment for the requester and the history")
    sub.set_defaults(handler=cmd_approve)

    sub = command("deny", "deny a request", "Deny someone else's request for a role you approve, saying why.")
    sub.add_argument("id", type=_request_id, metavar="ID")
    sub.add_argument("--comment", "-m", required=True, help="why (the requester reads it; required)")
    sub.set_defaults(handler=cmd_deny)

    sub = command("cancel", "withdraw your pending request", "Withdraw your own request while it is pending.")
    sub.add_argument("id", type=_request_id, metavar="ID")
    sub.set_defaults(handler=cmd_cancel)

    sub = command(
        "extend",
        "ask for more time on an active grant",
        "Ask to extend your active grant: a new request with its own justification and the role's approvals. "
        "Prints the extension's ID on standard output.",
    )
    sub.add_argument("id", type=_request_id, metavar="ID")
    sub.add_argument("--justification", "-j", required=True, help="why you need more time (at least 10 characters)")
    sub.add_argument(
        "--duration", "-d", type=parse_duration, default=None, help="90, 30m, 2h or 1h30m (default: the role's)"
    )
    sub.add_argument("--json", action="store_true", help="print the extension as JSON")
    sub.set_defaults(handler=cmd_extend)

    sub = command(
        "review",
        "list what waits for your review",
        "List the requests you may approve or deny now, and the break-glass uses you should review.",
    )
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.set_defaults(handler=cmd_review)

    sub = command(
        "break-glass",
        "get a role at once in an emergency",
        "Break the glass: get ROLE at once, without approval, for an incident. The portal admins and the "
        "role's approvers are told at once and review the use afterwards; uses per person are limited. "
        "Prints the request's ID on standard output.",
    )
    sub.add_argument("role", metavar="ROLE", help="the role's slug")
    sub.add_argument("--incident", "-i", required=True, help="the incident reference (the role says its pattern)")
    sub.add_argument("--justification", "-j", required=True, help="what is broken and what you will do")
    sub.add_argument(
        "--duration", "-d", type=parse_duration, default=None, help="90, 30m or 1h (default: the longest allowed)"
    )
    sub.add_argument("--wait", action="store_true", help="wait until the credentials are issued")
    sub.add_argument(
        "--timeout",
        type=parse_duration,
        default=parse_duration(DEFAULT_TIMEOUT),
        help=f"how long to wait for issuing (default: {DEFAULT_TIMEOUT})",
    )
    sub.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)
    sub.add_argument("--json", action="store_true", help="print the request as JSON")
    sub.set_defaults(handler=cmd_break_glass)

    sub = command(
        "credentials",
        "show a grant's credentials, once",
        "Show the credentials of an active grant. The portal shows them once: a second call fails (exit 6).",
    )
    sub.add_argument("id", type=_request_id, metavar="ID")
    sub.add_argument(
        "--format",
        "-f",
        choices=["text", "env", "json", "uri", "pgpass"],
        default="text",
        help="text (default), env (`export PG...` lines for eval), json, uri or pgpass (a .pgpass line)",
    )
    sub.set_defaults(handler=cmd_credentials)

    sub = command("revoke", "end a grant now", "End a grant now: its database user and sessions go away.")
    sub.add_argument("id", type=_request_id, metavar="ID")
    sub.add_argument("--reason", default="", help="a reason for the history")
    sub.set_defaults(handler=cmd_revoke)

    sub = command(
        "run",
        "run a command with time-boxed credentials",
        "Request ROLE, wait for approval and issuing, run the command with PGHOST, PGPORT, PGDATABASE, "
        "PGUSER, PGPASSWORD and DATABASE_URL in its environment, and revoke the grant when it exits. "
        "Ends with the command's exit status.",
    )
    sub.usage = "latchkey run [-h] ROLE --justification TEXT [--duration D] [--ticket T] [--timeout D] -- COMMAND ..."
    ask_options(sub)
    sub.set_defaults(handler=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # What follows `--` is the command of `latchkey run`, options and all.
    child: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, child = argv[:split], argv[split + 1 :]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.name == "run" and not child:
        parser.error("name the command to run after `--`, e.g. `latchkey run ROLE -j ... -- psql`")
    if args.name != "run" and child:
        parser.error(f"`latchkey {args.name}` takes no command after `--`")
    args.child = child
    try:
        url = args.url or os.environ.get("LATCHKEY_URL", "").strip()
        if not url:
            raise CliError("Set LATCHKEY_URL to the portal's address (or pass --url).", exit_code=EXIT_USAGE)
        # Checked before any sign-in: a token must never be obtained for an address it cannot go to.
        url = portal_url(url)
        token_cache = args.token_cache or os.environ.get("LATCHKEY_TOKEN_CACHE") or None
        portal = Portal(url, access_token(token_cache=token_cache))
        status = args.handler(portal, args)
    except CliError as error:
        print(f"latchkey: {error.message}", file=sys.stderr)
        status = error.exit_code
    except KeyboardInterrupt:
        print("latchkey: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    sys.exit(status)
