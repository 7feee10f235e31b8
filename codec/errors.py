"""Typed user-facing errors: raised at the boundary, mapped once to exit and gRPC codes."""

from __future__ import annotations

import sys
from typing import Callable


class CodecError(Exception):
    """Base class: the message is one line a user can act on (path first, then the problem)."""


class InvalidAudio(CodecError):
    """Audio that cannot be read or used (missing, not audio, empty, NaN)."""


class InvalidCodesFile(CodecError):
    """A .codes file that is foreign, truncated, corrupt or inconsistent."""


class ModelMismatch(CodecError):
    """Codes or weights that belong to another model."""


# what a command line reports in one line: the user can act on these; anything else is a bug
# and keeps its traceback
USER_MISTAKES = (CodecError, OSError, ValueError)


def describe(err: BaseException) -> str:
    """One line for a user: an OSError as "path: reason" instead of "[Errno 2] ... 'path'"."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return " ".join(str(err).split()) or type(err).__name__


def run_cli(prog: str, main: Callable[[], int | None]) -> int:
    """Run a command's body: a user's mistake (a missing file, a bad value, foreign input) is
    one line ``prog: error: ...`` on stderr and exit status 1; Ctrl-C is 130."""
    try:
        return main() or 0
    except USER_MISTAKES as err:
        print(f"{prog}: error: {describe(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
