"""One exception type for every user error, so the CLIs can print it and exit 2 without a traceback."""

from __future__ import annotations


class LampError(Exception):
    """A user error: bad input file, bad flag, mismatched ids.

    The message names what is wrong and where (file, record id, field) so the user can fix it.
    """


class LampDataError(LampError, ValueError):
    """A data file does not follow the LaMP format."""

    def __init__(self, message: str, *, file: str | None = None, record_id: str | None = None,
                 field: str | None = None) -> None:
        self.file, self.record_id, self.field, self.reason = file, record_id, field, message
        where = []
        if file:
            where.append(f"{file}")
        if record_id is not None:
            where.append(f"record id {record_id!r}")
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)
