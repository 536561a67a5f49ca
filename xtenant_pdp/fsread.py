"""Reading a file that must be a regular file, without ever blocking on something that is not.

A FIFO or device standing where a policy file or a snapshot should be (a hung mount, a mistake,
an attacker) would block a plain ``read_bytes`` forever: opened non-blocking and checked with
``fstat`` first, it is refused at once (issue 9, D2). Shared by the snapshot loader and the
policy folder reader.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotRegularFile(OSError):
    """The path names a FIFO, device, socket or directory."""


def read_regular(path: Path | str) -> bytes:
    """The whole file. Raises FileNotFoundError, NotRegularFile, or another OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file")
        chunks = []
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:  # pragma: no cover - regular files never say EAGAIN
                raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN)) from None
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)
