"""Unix socket listeners that another local user cannot hijack (issue 9, D3).

A socket in a directory that someone else owns, or may write to, can be replaced by a fake PDP
(or swapped for a symlink so that a later chmod hits another file). So the directory must be
the server's own and writable by nobody else: created 0700 (0750 when the socket mode gives its
group access) when absent, refused otherwise unless the operator vouches for it
(``--trust-socket-dir``, e.g. a Kubernetes emptyDir that only the pod's containers see). The
socket gets its mode at bind time through the umask, never from a chmod that follows symlinks,
and is checked afterwards with lstat.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

#: sun_path holds 108 bytes with the terminating NUL (Linux).
MAX_PATH_BYTES = 107


class SocketDirError(RuntimeError):
    """The socket's directory or path is unsafe or unusable; the message says why and what to do."""


def directory_mode(socket_mode: int) -> int:
    """0750 when the socket's group may connect (it must reach the socket), else 0700."""
    return 0o750 if socket_mode & 0o070 else 0o700


def prepare(path: Path, socket_mode: int, *, trusted: bool = False) -> None:
    """Make ``path``'s directory safe to bind in, and remove a stale socket of a previous run.

    Raises SocketDirError naming the directory and the fix.
    """
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise SocketDirError(f"{path} is longer than the {MAX_PATH_BYTES} bytes a Unix socket path may have")
    directory = path.parent
    created = False
    if not os.path.lexists(directory):
        with contextlib.suppress(FileExistsError):
            os.makedirs(directory, mode=directory_mode(socket_mode))
            created = True
    # The directory itself, never a symlink in its place (unless vouched for): every check below
    # is on this descriptor, so what is checked is what the socket lands in.
    flags = os.O_RDONLY | os.O_DIRECTORY | (0 if trusted else os.O_NOFOLLOW)
    try:
        fd = os.open(directory, flags)
    except OSError as exc:
        raise SocketDirError(f"socket directory {directory}: {exc.strerror} (a symlink or not a directory?)") from None
    try:
        if created:
            os.fchmod(fd, directory_mode(socket_mode))  # the umask may have cut the group's search bit
        if not trusted:
            _check_private(directory, os.fstat(fd))
    finally:
        os.close(fd)
    _remove_stale(path)


def _check_private(directory: Path, info: os.stat_result) -> None:
    uid = os.geteuid()
    if info.st_uid != uid:
        raise SocketDirError(
            f"socket directory {directory} is owned by uid {info.st_uid}, not by this server (uid {uid}): "
            "another user could replace the socket; use a directory of your own (or remove it and let the "
            "server create it), or pass --trust-socket-dir if only trusted users can write there"
        )
    if info.st_mode & 0o022:
        raise SocketDirError(
            f"socket directory {directory} is writable by group or others (mode {stat.S_IMODE(info.st_mode):o}): "
            f"another user could replace the socket; chmod go-w {directory}, or pass --trust-socket-dir if only "
            "trusted users can write there"
        )


def _remove_stale(path: Path) -> None:
    if not os.path.lexists(path):
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise SocketDirError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # stale socket from a previous run
    else:
        raise SocketDirError(f"{path} is in use by another process")
    finally:
        probe.close()


@contextlib.contextmanager
def created_with_mode(mode: int) -> Iterator[None]:
    """While binding: a socket file gets ``mode`` exactly (bind applies 0777 & ~umask).

    The umask is process-wide: hold this only around the bind, before any other thread writes files.
    """
    previous = os.umask(0o777 & ~mode)
    try:
        yield
    finally:
        os.umask(previous)


def verify(path: Path, mode: int) -> None:
    """After binding: the path is our socket with ``mode`` (lstat: a symlink is refused, never followed)."""
    info = os.lstat(path)
    if not stat.S_ISSOCK(info.st_mode):
        raise SocketDirError(f"{path} is not the server's socket after binding (replaced?)")
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) != mode:
        raise SocketDirError(
            f"{path} has owner {info.st_uid} and mode {stat.S_IMODE(info.st_mode):o}, expected "
            f"{os.geteuid()} and {mode:o}"
        )
