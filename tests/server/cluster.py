"""A production-like Debian PostgreSQL 15 for the server suite: TLS, pg_hba rules, least-privilege roles.

Everything runs as an unprivileged user on 127.0.0.1 and free ports, in one throwaway
directory: `start` makes a CA and a server certificate with `openssl` (and a second,
unrelated CA), initdb's a cluster with TLS on and the pg_hba rules below, and makes the
roles; `start_bouncer` puts PgBouncer in front (one database entry per pool mode) and
`start_standby` a `pg_basebackup -R` hot standby. The server's own time zone is not UTC,
so a session that lost pg_assets' startup options would show it.

Roles (all with `PASSWORD`), in database `rel`, where `PUBLIC` has no `TEMP`:

| role | what it may do |
|---|---|
| `owner` | owns schemas `own` and `own_staging`; no CREATE on the database, no TEMP |
| `granted` | USAGE, CREATE on `grant` and `grant_staging` (owned by `admin`) |
| `reader` | USAGE on `own`, SELECT on its tables: read-only |
| `slow` | owns `slow`, `slow_staging`; `statement_timeout = 300ms` set on the role |
| `ro_default` | owns `rod`, `rod_staging`; `default_transaction_read_only = on` set on the role |
| `tlsonly` | owns `tls`, `tls_staging`; pg_hba rejects it without TLS (`hostnossl ... reject`) |
| `nobody_yet` | nothing at all: the load must create its schemas and may not |
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "faults"))

import pg_server  # noqa: E402 - the fault suite's server helpers: binaries, ports, running as `nobody`

from pg_assets.connection import ConnectionConfig  # noqa: E402

PASSWORD = "Srv-Pw:7/q%"
DATABASE = "rel"
ROLES = ("owner", "granted", "reader", "slow", "ro_default", "tlsonly", "nobody_yet")
_RUN_AS = "nobody"

HBA = """
local all all trust
local replication all trust
hostnossl all tlsonly 127.0.0.1/32 reject
host all all 127.0.0.1/32 scram-sha-256
"""

SETUP = [
    f"CREATE DATABASE {DATABASE}",
    *(f"CREATE ROLE {r} LOGIN PASSWORD '{PASSWORD}'" for r in ROLES),
    "ALTER ROLE slow SET statement_timeout = '300ms'",
    "ALTER ROLE ro_default SET default_transaction_read_only = on",
]
SETUP_IN_DATABASE = [
    f"REVOKE TEMPORARY ON DATABASE {DATABASE} FROM PUBLIC",
    *(f"CREATE SCHEMA {s} AUTHORIZATION {r}" for r, s in (
        ("owner", "own"), ("owner", "own_staging"), ("slow", "slow"), ("slow", "slow_staging"),
        ("ro_default", "rod"), ("ro_default", "rod_staging"), ("tlsonly", "tls"), ("tlsonly", "tls_staging"))),
    'CREATE SCHEMA "grant"', "CREATE SCHEMA grant_staging",
    'GRANT USAGE, CREATE ON SCHEMA "grant", grant_staging TO granted',
    "GRANT USAGE ON SCHEMA own TO reader",
    "ALTER DEFAULT PRIVILEGES FOR ROLE owner IN SCHEMA own GRANT SELECT ON TABLES TO reader",
    # a table whose every insert takes a second: the commit outlasts `slow`'s statement_timeout
    "CREATE FUNCTION slow.take_a_second() RETURNS trigger LANGUAGE plpgsql AS "
    "$$BEGIN PERFORM pg_sleep(1); RETURN NULL; END$$",
    "CREATE TABLE slow.events (id bigint)",
    "CREATE TRIGGER take_a_second BEFORE INSERT ON slow.events FOR EACH STATEMENT "
    "EXECUTE FUNCTION slow.take_a_second()",
    "ALTER FUNCTION slow.take_a_second() OWNER TO slow", "ALTER TABLE slow.events OWNER TO slow",
]


@dataclass
class Cluster:
    """The running server, its certificates, and whatever was started in front of it."""

    home: Path
    port: int
    process: subprocess.Popen
    others: list[subprocess.Popen] = field(default_factory=list)

    @property
    def ca(self) -> Path:
        return self.home / "ca.crt"

    @property
    def wrong_ca(self) -> Path:
        return self.home / "other-ca.crt"

    def config(self, role: str, *, port: int | None = None, database: str = DATABASE, **query: str
               ) -> ConnectionConfig:
        """Log in as `role` over TCP; `query` adds libpq parameters (`sslmode`, `options`, ...)."""
        return ConnectionConfig(database, role, PASSWORD, "127.0.0.1", port=port or self.port, connect_timeout=5,
                                query=query)

    def admin(self, *statements: str, database: str = DATABASE) -> list[tuple]:
        """Run statements as the superuser over the socket; the rows of the last."""
        import psycopg2

        conn = psycopg2.connect(host=str(self.home), port=self.port, user="admin", dbname=database)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def stop(self) -> None:
        for process in [*self.others, self.process]:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.home, ignore_errors=True)


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, capture_output=True, cwd=cwd)
    if done.returncode:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr.decode(errors='replace')[-2000:]}")


def make_certificates(home: Path) -> None:
    """A CA, a server certificate it signs for 127.0.0.1 and localhost, and an unrelated CA."""
    for name in ("ca", "other-ca"):
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
              f"/CN=pg_assets test {name}", "-keyout", f"{name}.key", "-out", f"{name}.crt"], home)
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
          "-out", "server.csr"], home)
    (home / "san.ext").write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    _run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
          "-days", "2", "-extfile", "san.ext", "-out", "server.crt"], home)
    os.chmod(home / "server.key", 0o600)


def _as_server_user(home: Path, *paths: Path) -> None:
    if os.geteuid() == 0:
        for path in (home, *paths):
            shutil.chown(path, _RUN_AS)


def start() -> Cluster:
    """initdb with TLS and the pg_hba rules, start, make the roles and schemas."""
    home = Path(tempfile.mkdtemp(prefix="pg_assets_server_"))
    make_certificates(home)
    pwfile = home / "pw"
    pwfile.write_text(PASSWORD + "\n")
    _as_server_user(home, pwfile, home / "server.key", home / "server.crt")
    _run(pg_server._as_user([pg_server._bin("initdb"), "-D", str(home / "data"), "-U", "admin", "--pwfile",
                             str(pwfile), "-E", "UTF8", "--no-sync"]), home)
    (home / "data" / "pg_hba.conf").write_text(HBA)
    port = pg_server.free_port()
    process = _postgres(home, home / "data", port, "-c", "ssl=on", "-c", f"ssl_cert_file={home / 'server.crt'}",
                        "-c", f"ssl_key_file={home / 'server.key'}")
    cluster = Cluster(home, port, process)
    try:
        _wait_ready(home, port, process)
        cluster.admin(*SETUP, database="postgres")
        cluster.admin(*SETUP_IN_DATABASE)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _postgres(home: Path, data: Path, port: int, *settings: str) -> subprocess.Popen:
    log = open(home / f"log-{port}", "wb")  # noqa: SIM115 - kept open for the server's lifetime
    return subprocess.Popen(pg_server._as_user([
        pg_server._bin("postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(home),
        "-c", "fsync=off", "-c", "max_connections=200", "-c", "timezone=America/New_York", *settings]),
        stdout=log, stderr=subprocess.STDOUT, cwd=home)


def _wait_ready(home: Path, port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited: {(home / f'log-{port}').read_text()[-2000:]}")
        ready = subprocess.run([pg_server._bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                               capture_output=True)
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("postgres did not start within 30 s")


def start_standby(cluster: Cluster) -> int:
    """A hot standby of the cluster (`pg_basebackup -R`) on its own port; stopped with the cluster."""
    data = cluster.home / "standby"
    # `-c fast`: a spread checkpoint would make the backup wait minutes
    _run(pg_server._as_user([pg_server._bin("pg_basebackup"), "-h", str(cluster.home), "-p", str(cluster.port),
                             "-U", "admin", "-D", str(data), "-R", "--no-sync", "-X", "stream", "-c", "fast"]),
         cluster.home)
    port = pg_server.free_port()
    process = _postgres(cluster.home, data, port, "-c", "hot_standby=on")
    cluster.others.append(process)
    _wait_ready(cluster.home, port, process)
    return port


def start_bouncer(cluster: Cluster) -> int:
    """PgBouncer on a free port: database `rel_session` in session pooling, `rel_tx` in transaction pooling."""
    home = cluster.home / "bouncer"
    home.mkdir()
    port = pg_server.free_port()
    target = f"host=127.0.0.1 port={cluster.port} dbname={DATABASE}"
    (home / "userlist.txt").write_text("".join(f'"{r}" "{PASSWORD}"\n' for r in ROLES))
    (home / "pgbouncer.ini").write_text(f"""
[databases]
rel_session = {target} pool_mode=session
rel_tx = {target} pool_mode=transaction

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {home / 'userlist.txt'}
logfile = {home / 'pgbouncer.log'}
pidfile = {home / 'pgbouncer.pid'}
default_pool_size = 40
max_client_conn = 200
ignore_startup_parameters = options
""")
    _as_server_user(home, home / "userlist.txt", home / "pgbouncer.ini")
    process = subprocess.Popen(pg_server._as_user(["/usr/sbin/pgbouncer", str(home / "pgbouncer.ini")]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=home)
    cluster.others.append(process)
    _wait_port(port, process)
    return port


def _wait_port(port: int, process: subprocess.Popen) -> None:
    import socket

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("pgbouncer exited at start")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("pgbouncer did not listen within 15 s")
