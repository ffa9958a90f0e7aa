"""A quiet console: TensorFlow's native start-up lines stay off stderr unless asked for.

TensorFlow's C++ side writes lines such as ``I0000 ... oneDNN custom operations are on``,
``E0000 ... failed call to cuInit: ... CUDA error`` (on every CPU-only machine) and
``WARNING: All log messages before absl::InitializeLog() ...`` straight to file descriptor 2,
before ``TF_CPP_MIN_LOG_LEVEL`` is read, so no Python setting silences them. A user reads
"CUDA error" as a failure. The project's entry points therefore route descriptor 2 through
a filter that drops those lines and passes everything else on unchanged (Python's own
``sys.stderr`` keeps writing to the terminal, so progress bars still see a terminal).
Set ``IMDB_RNN_TF_LOGS=1`` to see TensorFlow's lines again, e.g. when debugging a device.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

SHOW_ENV = "IMDB_RNN_TF_LOGS"
# glog/absl lines: severity I, W or E (F = fatal is always shown), MMDD, time, thread, file:line]
NATIVE_LINE = re.compile(rb"^[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]\s]+:\d+\] ")
ABSL_NOTICE = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def is_native_log(line: bytes) -> bool:
    """Whether a stderr line is one of TensorFlow's native log lines (never a project or Python line)."""
    return bool(NATIVE_LINE.match(line)) or line.rstrip(b"\r") == ABSL_NOTICE


def _may_become_native(partial: bytes) -> bool:
    """Whether an unfinished line could still turn out to be a native log line (then wait for its end)."""
    return bool(re.match(rb"^[IWE]\d{0,4}( |$)", partial[:6])) or ABSL_NOTICE.startswith(partial[: len(ABSL_NOTICE)])


def quiet_native_logs() -> None:
    """Filter TensorFlow's native lines out of descriptor 2 for the rest of the process (see the module doc)."""
    if os.environ.get(SHOW_ENV) == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # fewer lines to filter once logging is set up
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to filter
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = open(terminal, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    pump = threading.Thread(target=_pump, args=(read_end, terminal), name="stderr-filter", daemon=True)
    pump.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # closes the pipe's last write end: the pump sees the end and drains
        pump.join(timeout=2)

    atexit.register(restore)


def _pump(read_end: int, terminal: int) -> None:
    pending = b""
    while chunk := os.read(read_end, 65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not is_native_log(line))
        if pending and not _may_become_native(pending):  # a progress bar or prompt: pass it on now
            kept, pending = kept + pending, b""
        _write_all(terminal, kept)
    if pending and not is_native_log(pending):
        _write_all(terminal, pending)
    os.close(read_end)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
