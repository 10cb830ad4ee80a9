"""Progress bars for long work in every stage: a redrawn tqdm bar on a terminal, and a plain line
every few seconds when the output is a log file or CI (a redrawn bar there writes thousands of
carriage-return updates into one line).
"""

from __future__ import annotations

import sys

LOG_INTERVAL_S = 5.0


class _Lines:
    """A text stream that writes each tqdm status as its own line (no carriage returns)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(iterable=None, **kwargs):
    """``tqdm(iterable, **kwargs)`` that prints a line every few seconds when stderr is not a
    terminal; ``disable=True`` still hides it."""
    from tqdm import tqdm

    stream = kwargs.pop("file", None) or sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
        kwargs.setdefault("maxinterval", LOG_INTERVAL_S)
        kwargs.update(file=_Lines(stream), ascii=True, dynamic_ncols=False, ncols=100)
    else:
        kwargs["file"] = stream
    return tqdm(iterable, **kwargs)
