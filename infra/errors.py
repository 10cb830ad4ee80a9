"""Error text on one line: every stage reports bad input as one line naming the file and the
reason, and the reasons often come from a library's multi-line exception. Standard library only.
"""

from __future__ import annotations


def one_line(e: object, limit: int | None = None) -> str:
    """``str(e)`` with its whitespace (newlines included) collapsed to single spaces, cut to
    ``limit`` characters when given; an exception with no text gives its type's name."""
    text = " ".join(str(e).split())
    if not text and isinstance(e, BaseException):
        return type(e).__name__
    return text[:limit] if limit is not None else text
