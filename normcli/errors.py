"""Exception types and exit codes: every failure a user can cause maps to one of these.

The command line prints ``Error: <message>`` and exits with the class's ``exit_code``;
the library raises them for callers to catch.
"""

from __future__ import annotations

import signal

EXIT_OK = 0
EXIT_FAILURE = 1  # data, sidecar or I/O error
EXIT_USAGE = 2  # bad option, unknown method, wrong combination of arguments
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT); SIGTERM gives 143, SIGHUP 129
EXIT_BROKEN_PIPE = 141  # stdout closed early by the reader (128 + SIGPIPE), as a shell reports it
# The signals that end a command by unwinding it, so that no temporary file is left behind: Ctrl-C,
# kill, and the hangup of a closed terminal or a dropped ssh session.
UNWINDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def escape(text: object) -> str:
    """Render ``text`` for a one-line terminal message: control characters become escapes."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in s)


class NormcliError(Exception):
    """A failure the user can fix. ``str()`` gives the one-line message.

    The message names, where known, the file, the column, the row (1 = first record after the
    header) and the offending value, in that order.
    """

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, file=None, column=None, row=None, value=None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.column = column
        self.row = row
        self.value = value

    def located(self, *, file=None, column=None) -> "NormcliError":
        """Fill in the file or column if the raiser did not know it."""
        if self.file is None:
            self.file = file
        if self.column is None:
            self.column = column
        return self

    def __str__(self) -> str:
        location = []
        if self.column is not None:
            location.append(f"column '{escape(self.column)}'")
        if self.row is not None:
            location.append(f"row {self.row}")
        text = escape(self.message)
        if self.value is not None:
            text += f": '{escape(self.value)}'"
        parts = [escape(self.file)] if self.file is not None else []
        if location:
            parts.append(", ".join(location))
        return ": ".join(parts + [text])


class DataError(NormcliError):
    """The input data cannot be read or scaled (not numeric, ragged, infinite, ...)."""


class SidecarError(NormcliError):
    """The sidecar is missing, corrupt, of an unknown version or does not fit the data."""


class FileError(NormcliError):
    """A file cannot be opened, read or written."""


class UsageError(NormcliError):
    """The arguments do not make sense (unknown method, bad range, ...)."""

    exit_code = EXIT_USAGE


def is_broken_pipe(exc: BaseException | None) -> bool:
    """Whether ``exc`` is the reader of a pipe having closed it."""
    if exc is None:
        return False
    # polars reports a closed pipe as a plain OSError("Broken pipe (os error 32)").
    return isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and "Broken pipe" in str(exc))
