"""Run the whole portal locally with the demo tenant: `python -m portal.devstack demo`.

`python -m portal.devstack token alice` prints an access token for the demo portal's API (for
`latchkey` or curl); `... token --app orders-deploy` one of the demo CI application.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import tenant, tokens
from .processes import StackError, tcp_open, wait_for
from .stack import OIDC_CLIENT_ID, REPO_ROOT, VENV_BIN, Ports, Stack


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [str(VENV_BIN / "python"), str(REPO_ROOT / "manage.py"), *args],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        check=True,
    )


def demo(state_dir: Path) -> int:
    ports = Ports.demo()
    taken = ports.taken()
    if taken:
        print(
            f"Cannot start the demo: {', '.join(taken)} already in use. Stop what listens there and retry.",
            file=sys.stderr,
        )
        return 2

    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    stack = Stack(state_dir=state_dir, ports=ports)
    started = time.monotonic()
    try:
        print("Starting PostgreSQL, Redis, OpenBao and the Entra ID stand-in ...", flush=True)
        stack.start()
        env = stack.portal_env()
        print("Migrating the portal database ...", flush=True)
        _manage(env, "migrate", "--no-input", "--verbosity", "0")
        _manage(env, "seed_demo")
        # Restarted when they exit, as compose's `restart: unless-stopped` does (a Redis restart can end them).
        stack.start_worker(env, restart=True)
        stack.start_beat(env, restart=True)
        web = stack.start_portal_process(
            "web", [str(VENV_BIN / "python"), "manage.py", "runserver", f"127.0.0.1:{ports.web}", "--noreload"], env
        )
        wait_for(lambda: tcp_open(ports.web), what="the portal", process=web)
    except (StackError, subprocess.CalledProcessError) as error:
        print(f"The demo could not start: {error}", file=sys.stderr)
        print(f"Logs are in {stack.log_dir}", file=sys.stderr)
        stack.stop()
        return 1

    apps = ", ".join(tenant.APPLICATIONS)
    roles = ", ".join(role for app in tenant.APPLICATIONS.values() for role in app.app_roles)
    users = "\n".join(f"    {user.name:<6} {', '.join(user.groups) or '(no group)'}" for user in tenant.USERS.values())
    print(
        f"""
Latchkey is running (started in {time.monotonic() - started:.0f} s).

  Portal:         http://127.0.0.1:{ports.web}
  Sign-in (Entra stand-in): {stack.issuer}
  OpenBao:        {stack.vault_addr}
  PostgreSQL:     127.0.0.1:{ports.postgres} (target database "shop")
  Logs:           {stack.log_dir}

  Demo users (pick one on the provider's page):
{users}

  The API and the `latchkey` command, with an access token (JWT, valid {tokens.DEFAULT_MINUTES} min):
    export LATCHKEY_URL=http://127.0.0.1:{ports.web}
    export LATCHKEY_TOKEN="$({VENV_BIN / "python"} -m portal.devstack token alice)"
    {VENV_BIN / "latchkey"} roles
  Any demo user instead of alice; the demo CI application ({apps}, app roles {roles}):
    {VENV_BIN / "python"} -m portal.devstack token --app {next(iter(tenant.APPLICATIONS))}

Press Ctrl-C to stop.
""",
        flush=True,
    )
    try:
        while not stopping:
            restarted, dead = stack.supervise()
            for name in restarted:
                print(f"{name} exited; started it again (logs: {stack.processes[name].log_path})", flush=True)
            for name in dead:
                print(f"{name} stopped unexpectedly:\n{stack.processes[name].log_tail()}", file=sys.stderr)
                stopping = True
            time.sleep(0.25)
    finally:
        print("Stopping ...", flush=True)
        stack.stop()
    return 0


def token(args: argparse.Namespace) -> int:
    make = tokens.application_claims if args.app else tokens.person_claims
    known = tenant.APPLICATIONS if args.app else tenant.USERS
    if args.name not in known:
        print(
            f"No demo {'application' if args.app else 'user'} {args.name!r}: pick one of {', '.join(known)}.",
            file=sys.stderr,
        )
        return 2
    claims = make(args.name, issuer=args.issuer.rstrip("/"), audience=OIDC_CLIENT_ID, minutes=args.minutes)
    try:
        print(tokens.sign(claims, args.state_dir.resolve()))
    except tokens.NoSigningKey as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m portal.devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="start the whole portal with the demo tenant")
    run.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".latchkey")
    issue = sub.add_parser("token", help="print an access token for the demo portal's API")
    issue.add_argument("name", help=f"a demo user ({', '.join(tenant.USERS)}) or, with --app, a demo application")
    issue.add_argument(
        "--app", action="store_true", help=f"a token of a demo application ({', '.join(tenant.APPLICATIONS)})"
    )
    issue.add_argument("--minutes", type=int, default=tokens.DEFAULT_MINUTES, help="lifetime (default: %(default)s)")
    issue.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".latchkey", help="the demo's state folder")
    issue.add_argument(
        "--issuer", default=f"http://127.0.0.1:{Ports.demo().oidc}", help="the Entra stand-in (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.command == "token":
        return token(args)
    return demo(args.state_dir.resolve())


if __name__ == "__main__":
    sys.exit(main())
