"""The one error type that bad input raises."""

from __future__ import annotations


class DataValidationError(ValueError):
    """Input that cannot be used, with a message a biologist can act on.

    The message names the file, the line or gene where the problem is, and what to do about it.

    Parameters
    ----------
    message
        What is wrong and how to fix it.
    file
        Name of the offending file (``None`` when the problem is not tied to one file).
    line
        1-based line number in that file, when known.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        self.file = file
        self.line = line
        where = ""
        if file is not None:
            where = f"{file}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
