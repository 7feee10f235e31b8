"""Typed user-facing errors: raised at the boundary, mapped once to exit and gRPC codes."""


class CodecError(Exception):
    """Base class: the message is one line a user can act on (path first, then the problem)."""


class InvalidAudio(CodecError):
    """Audio that cannot be read or used (missing, not audio, empty, NaN)."""


class InvalidCodesFile(CodecError):
    """A .codes file that is foreign, truncated, corrupt or inconsistent."""


class ModelMismatch(CodecError):
    """Codes or weights that belong to another model."""
