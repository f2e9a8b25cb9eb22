"""Errors that the command line reports as one line, without a traceback."""

from __future__ import annotations


class AdownerError(Exception):
    """Base class for user-facing errors: the message names the file, row and field."""


class InputError(AdownerError):
    """An input file or argument cannot be used (unreadable, empty, wrong format, missing column)."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path, self.row, self.field = path, row, field
        where = ", ".join(
            p
            for p in (
                str(path) if path is not None else None,
                f"row {row}" if row is not None else None,
                f"field {field!r}" if field is not None else None,
            )
            if p
        )
        super().__init__(f"{where}: {message}" if where else message)
