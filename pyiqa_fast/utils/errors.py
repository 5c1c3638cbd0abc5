"""Error messages for the command line: what a user reads on stderr instead of a traceback."""

from __future__ import annotations

import re

__all__ = ["error_message"]

_WORKER = re.compile(r"^Caught \w+ in DataLoader worker process \d+\.\nOriginal Traceback \(most recent call last\):\n")
_EXC_PREFIX = re.compile(r"^[A-Za-z_][\w.]*: ")


def error_message(exc: BaseException) -> str:
    """The message of ``exc`` as the CLI prints it after ``pyiqa-fast <command>: ``.

    A ``KeyError``'s message without the quotes ``str()`` adds, and an error re-raised by a
    ``DataLoader`` worker (whose message is ``"Caught X in DataLoader worker process N."`` plus the
    worker's whole traceback) as the original message only. Other messages are returned as they are
    (a missing dataset file keeps its multi-line expected layout).

    Example:
        >>> error_message(KeyError("no model 'x'"))
        "no model 'x'"
    """
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    text = str(exc)
    if _WORKER.match(text):
        lines = text.splitlines()
        frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
        j = frames[-1] + 1 if frames else 2
        while j < len(lines) and (not lines[j] or lines[j][0].isspace()):
            j += 1  # the frame's source line and carets
        if j < len(lines):
            return _EXC_PREFIX.sub("", "\n".join(lines[j:]).rstrip(), count=1)
    return text
