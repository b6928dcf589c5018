"""Start a command as systemd does for a socket-activated service, without systemd.

``python tests/deploy/sd_launch.py FD COMMAND ARGS...``: the listening socket ``FD`` becomes
file descriptor 3, ``LISTEN_FDS=1`` and ``LISTEN_PID`` (this process id, kept by ``exec``) are
set, then ``COMMAND`` replaces this process. gunicorn's arbiter then serves on the inherited
socket instead of binding its own (gunicorn/systemd.py).
"""

from __future__ import annotations

import os
import sys

SD_LISTEN_FDS_START = 3


def main(argv: list[str]) -> None:
    fd = int(argv[0])
    if fd != SD_LISTEN_FDS_START:
        os.dup2(fd, SD_LISTEN_FDS_START)  # the copy is inheritable
        os.close(fd)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.execv(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
