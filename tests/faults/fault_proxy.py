"""A TCP proxy on 127.0.0.1 that breaks connections on purpose, for the fault suite.

Faults, each armed by a test and fired once:

- `cut_after(n)`: after `n` more bytes pass (either way, any connection), every open
  connection is cut at once, mid-message, as a network failure would;
- `refuse_for(seconds)`: the listening socket closes, so new connections are refused,
  and opens again afterwards; `cut_after(n, refuse=s)` does both;
- `drop_commit_reply()`: the next `COMMIT` reaches the server, but its reply is dropped
  and the connection cut, so the client cannot know whether it committed.

`passed` counts every byte forwarded, so a test can measure a fault-free load first
and then cut it at a random byte.
"""

from __future__ import annotations

import socket
import threading
import time


class FaultProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target`."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.passed = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._cut_at: int | None = None
        self._refuse_after_cut = 0.0
        self._drop_commit = False
        self._closing = False
        self._refuse_until = 0.0
        self.marks: dict[bytes, int] = {}  # marker -> `passed` when a client first sent it since `watch`
        self._watched: tuple[bytes, ...] = ()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._accepting = threading.Thread(target=self._accept_loop, daemon=True)
        self._accepting.start()

    # ---- faults -----------------------------------------------------------------------------

    def cut_after(self, nbytes: int, *, refuse: float = 0.0) -> None:
        with self._lock:
            self._cut_at = self.passed + max(0, nbytes)
            self._refuse_after_cut = refuse

    def refuse_for(self, seconds: float) -> None:
        """Close the listening socket for `seconds` (the accepting thread closes and reopens it)."""
        with self._lock:
            self._refuse_until = max(self._refuse_until, time.monotonic() + seconds)
        listener = self._listener
        if listener is not None:
            listener.close()

    def watch(self, *markers: bytes) -> None:
        """Note from now on the byte offset where each marker is first sent (to tell a load's phases)."""
        with self._lock:
            self.marks = {}
            self._watched = markers

    def drop_commit_reply(self) -> None:
        self._drop_commit = True

    def disarm(self) -> None:
        with self._lock:
            self._cut_at = None
            self._drop_commit = False

    def cut_all(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns), set()
            self.cuts += 1
        for conn in conns:
            _kill(conn)

    def close(self) -> None:
        self._closing = True
        if self._listener is not None:
            self._listener.close()
        self.cut_all()

    # ---- forwarding -------------------------------------------------------------------------

    @staticmethod
    def _listen(port: int) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(128)
        s.settimeout(0.2)
        return s

    def _accept_loop(self) -> None:
        while not self._closing:
            listener = self._open_listener()
            if listener is None:
                time.sleep(0.01)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                _kill(client)
                continue
            with self._lock:
                self._conns.update((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _open_listener(self) -> socket.socket | None:
        """The listening socket, closed while refusing and opened again after; only this thread binds."""
        if time.monotonic() < self._refuse_until:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            return None
        if self._listener is None or self._listener.fileno() < 0:
            try:
                self._listener = self._listen(self.port)
            except OSError:
                return None  # the port is still being released: try again shortly
        return self._listener

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        dropping = False
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream and self._drop_commit and b"COMMIT" in data:
                    self._drop_commit = False
                    dst.sendall(data)
                    time.sleep(0.3)  # the server commits; its reply never reaches the client
                    dropping = True
                    break
                data, cut = self._take(data)
                if data:
                    dst.sendall(data)
                if cut:
                    self._fire()
                    return
        except OSError:
            pass
        finally:
            if dropping:
                self.cut_all()
            else:
                _kill(src)
                _kill(dst)

    def _take(self, data: bytes) -> tuple[bytes, bool]:
        """The part of `data` to forward, and whether an armed cut falls inside it (mid-message)."""
        with self._lock:
            start = self.passed
            for marker in self._watched:
                if marker not in self.marks and marker in data:
                    self.marks[marker] = start
            self.passed += len(data)
            if self._cut_at is None or self.passed < self._cut_at:
                return data, False
            keep = data[: max(0, self._cut_at - start)]
            self._cut_at = None
            return keep, True

    def _fire(self) -> None:
        if self._refuse_after_cut:
            self.refuse_for(self._refuse_after_cut)
        self.cut_all()


def _kill(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        conn.close()
    except OSError:
        pass
