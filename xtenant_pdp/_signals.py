"""Start-up signal safety of `xtenant-pdp serve` (issue 9, D11).

SIGHUP's default action ends a process, and importing the package takes up to a second on a
busy node before `serve` can install its own handler: a reload request sent then (a config
watcher reacting to the same change that started the pod) would kill the sidecar. When this
process is the `serve` command itself, SIGHUP is ignored from the first import on; serve
replaces that with its reload handler before the first load. Embedding applications are never
touched: only ``python -m xtenant_pdp serve`` and the ``xtenant-pdp serve`` script qualify.
"""

from __future__ import annotations

import os
import signal
import sys


def ignore_sighup_while_starting(argv: list[str] = sys.argv) -> bool:
    program = os.path.basename(argv[0]) if argv else ""
    if len(argv) > 1 and argv[1] == "serve" and program in ("-m", "xtenant-pdp", "__main__.py"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        return True
    return False


ignore_sighup_while_starting()
