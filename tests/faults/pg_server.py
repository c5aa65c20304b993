"""A Debian PostgreSQL server over TCP, with password (scram) authentication, for the fault suite.

Started with the distribution's `initdb` and `postgres` as an unprivileged user
(`nobody` when we run as root), on 127.0.0.1 and a free port, in a throwaway
directory; `stop` shuts it down and removes everything. Used by `tests/faults/` and
by `benchmarks/soak_faults.py`.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pg_assets.connection import ConnectionConfig

USER, PASSWORD, DATABASE = "loader", "Fault-Pw:9/x%", "faults"
_RUN_AS = "nobody"


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError(f"Debian's `postgresql` package is not installed (no {name}): apt-get install postgresql")
    return found[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", _RUN_AS, "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class Server:
    """A running server: `config` logs in as `loader` with its password over TCP."""

    home: Path
    port: int
    process: subprocess.Popen
    settings: tuple[str, ...] = ()  # more `-c name=value` options, kept across a restart

    @property
    def config(self) -> ConnectionConfig:
        return ConnectionConfig(DATABASE, USER, PASSWORD, "127.0.0.1", port=self.port, connect_timeout=5)

    def at(self, port: int) -> ConnectionConfig:
        """The same login through another port (a proxy in front of the server)."""
        return ConnectionConfig(DATABASE, USER, PASSWORD, "127.0.0.1", port=port, connect_timeout=5)

    def restart(self, down: float = 0.0) -> None:
        """Shut the server down fast (every session is ended, as a crash of the clients' server would),
        stay down `down` seconds, and start it again on the same port and data."""
        # to the postmaster itself (its pid heads `postmaster.pid`): `runuser` does not pass SIGINT on
        postmaster = int((self.home / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGINT)
        self.process.wait(30)
        time.sleep(down)
        self.process = _launch(self.home, self.port, self.settings)
        _wait_ready(self)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.home, ignore_errors=True)


# what logical replication needs (`kind: pg_replication`): `start(LOGICAL_REPLICATION)`
LOGICAL_REPLICATION = ("wal_level=logical", "max_replication_slots=20", "max_wal_senders=20")


def start(settings: tuple[str, ...] = ()) -> Server:
    """initdb, start, create the `loader` role and the `faults` database; `settings` are more
    `-c name=value` options (with `wal_level=logical` the role may also replicate)."""
    home = Path(tempfile.mkdtemp(prefix="pg_assets_faults_"))
    data = home / "data"
    pwfile = home / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(home, _RUN_AS)
        shutil.chown(pwfile, _RUN_AS)
    subprocess.run(_as_user([_bin("initdb"), "-D", str(data), "-U", "admin", "--pwfile", str(pwfile),
                             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True, cwd=home)
    port = free_port()
    server = Server(home, port, _launch(home, port, settings), settings)
    _wait_ready(server)
    replication = " REPLICATION" if "wal_level=logical" in settings else ""
    _admin(server, f"CREATE ROLE {USER} LOGIN{replication} PASSWORD '{PASSWORD}'",
           f"CREATE DATABASE {DATABASE} OWNER {USER}")
    return server


def _launch(home: Path, port: int, settings: tuple[str, ...] = ()) -> subprocess.Popen:
    log = open(home / "log", "ab")  # noqa: SIM115 - kept open for the server's lifetime
    return subprocess.Popen(_as_user([
        _bin("postgres"), "-D", str(home / "data"), "-h", "127.0.0.1", "-p", str(port), "-k", str(home),
        "-c", "fsync=off", "-c", "max_connections=200", "-c", "deadlock_timeout=200ms",
        *(arg for setting in settings for arg in ("-c", setting))]),
        stdout=log, stderr=subprocess.STDOUT, cwd=home)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"postgres exited: {(server.home / 'log').read_text()[-2000:]}")
        ok = subprocess.run([_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(server.port)], capture_output=True)
        if ok.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("postgres did not start within 30 s")


def _admin(server: Server, *statements: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host=str(server.home), port=server.port, user="admin", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    conn.close()
