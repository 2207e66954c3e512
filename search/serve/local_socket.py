"""Where a server listens for its own user's CLI: a Unix socket in a private folder.

The folder is checked (a real folder, owned by the user, mode 0700) and the socket is named
after the index's real path. No address, pid or token is written anywhere: whoever can open
the socket is the same user, a socket left by a killed server refuses the connection, and
another user cannot put one there. The CLI's fast path (``search.cli.fastpath``) finds the
socket with these functions; this module imports only the standard library's lightest
parts, since the fast path's cost is Python's start and one request.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import urllib.parse

CONNECT_SECONDS = 1.0


def servers_folder() -> str:
    """Where running servers listen for queries from their own user."""
    chosen = os.environ.get("NEWSSEARCH_RUN_DIR")
    if chosen:
        return chosen
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "newssearch")
    return os.path.join(os.path.expanduser("~"), ".cache", "newssearch", "servers")


def private_folder(*, create: bool) -> str | None:
    """The servers' folder if only this user can reach it (a real folder, ours, mode 0700),
    made so when ``create``; None when it is anyone else's or shared: then there is no
    fast path, rather than one another user could answer."""
    folder = servers_folder()
    try:
        if create:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return None
        if info.st_mode & 0o077:
            if not create:
                return None
            os.chmod(folder, 0o700)
    except OSError:
        return None
    return folder


def socket_for(index: str | os.PathLike[str], folder: str) -> str:
    """The socket of a server on ``index``: named after the index's real path."""
    real = os.path.realpath(index)
    name = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return os.path.join(folder, f"{name}.sock")


class PrivateSocket:
    """A server's Unix socket for the CLI's fast path; ``close`` removes its file, unless
    another server has put its own there since."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock, self.path = sock, path
        self._inode = os.lstat(path).st_ino

    def close(self) -> None:
        try:
            if os.lstat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except OSError:
            pass
        self.sock.close()


def listen_privately(index: str | os.PathLike[str]) -> PrivateSocket | None:
    """A Unix socket for the CLI's fast path, or None: no private folder, a path too long
    for a socket, or another live server already answering for this index."""
    folder = private_folder(create=True)
    if folder is None:
        return None
    path = socket_for(index, folder)
    if _answers(path):
        return None  # the server started first keeps the fast path
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _remove_stale(path)
        sock.bind(path)  # in a 0700 folder: only this user can connect
        os.chmod(path, 0o600)
        sock.listen(256)
        return PrivateSocket(sock, path)
    except OSError:
        sock.close()
        return None


def _answers(path: str) -> bool:
    """Whether a live server listens on the socket at ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(CONNECT_SECONDS)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _remove_stale(path: str) -> None:
    """Remove a socket file no server listens on (left by one that was killed)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(info.st_mode) and info.st_uid == os.geteuid():
        os.unlink(path)


def index_header(index: str | os.PathLike[str]) -> str:
    """The index's real path as an HTTP header carries it: percent-encoded, so any name
    fits in Latin-1."""
    return urllib.parse.quote(os.path.realpath(index), safe="/")


def find_server(index: str | os.PathLike[str]) -> str | None:
    """The socket of a server on this index, if there is one in the private folder (it
    may be stale: a connection refused says so)."""
    folder = private_folder(create=False)
    if folder is None:
        return None
    path = socket_for(index, folder)
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.geteuid():
        return None
    return path
