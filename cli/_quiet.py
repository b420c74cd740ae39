"""Keep TensorFlow's native start-up log lines (absl, oneDNN, CUDA probes) off the terminal.

TensorFlow writes some to file descriptor 2 before reading ``TF_CPP_MIN_LOG_LEVEL``, so stderr
goes through a pipe that drops exactly those lines. Off with ``--verbose`` or a user-set level.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

__all__ = ["NATIVE_LOG_LINE", "hide_native_logs"]

NATIVE_LOG_LINE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IWEF]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\]"
    rb"|To enable the following instructions: .* rebuild TensorFlow)"
)
_PREFIX = re.compile(rb"^(W|WA|WAR|WARN|WARNI|WARNIN|WARNING|WARNING:.*|[IWEF]\d{0,4}( .*)?|To.*)$")


def _forward(read_fd: int, write_fd: int) -> None:
    pending = b""
    while chunk := os.read(read_fd, 65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = [line + b"\n" for line in lines if not NATIVE_LOG_LINE.match(line)]
        if pending and not _PREFIX.match(pending):  # a partial line that is no log line
            kept.append(pending)
            pending = b""
        if kept:
            os.write(write_fd, b"".join(kept))
    if pending and not NATIVE_LOG_LINE.match(pending):
        os.write(write_fd, pending)


def hide_native_logs() -> None:
    """Filter file descriptor 2 for the rest of the process (once)."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or getattr(hide_native_logs, "active", False):
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    terminal = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    reader = threading.Thread(target=_forward, args=(read_fd, terminal), daemon=True)
    reader.start()
    hide_native_logs.active = True  # type: ignore[attr-defined]

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # closes the pipe's last writer: the reader drains and stops
        reader.join(timeout=2)

    atexit.register(restore)
