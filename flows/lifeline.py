"""Run a child process that dies with its parent, even when the parent is killed with SIGKILL.

    python -m flows.lifeline PARENT_PID -m MODULE [ARGS...]

runs MODULE as ``python -m MODULE ARGS`` in this process, with a watcher thread that ends the
process once PARENT_PID is no longer its parent (the kernel re-parents an orphan). Prefect
starts its temporary API server as a plain child, which a killed ``intcap`` would leave behind;
``flows.prefect_env`` starts it through this module instead.
"""
from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

POLL_SECONDS = 0.25
GRACE_SECONDS = 3.0


def watch(parent: int) -> None:
    """End this process when ``parent`` is gone: SIGTERM first (a clean shutdown), then exit."""
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_SECONDS)
    os._exit(1)


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "-m":
        raise SystemExit("usage: python -m flows.lifeline PARENT_PID -m MODULE [ARGS...]")
    parent = int(argv[0])
    if os.getppid() != parent:  # the parent died before we started
        raise SystemExit(1)
    threading.Thread(target=watch, args=(parent,), daemon=True, name="lifeline").start()
    module = argv[2]
    sys.argv = [module, *argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
