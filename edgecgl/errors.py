"""The one exception type for users' mistakes; the CLI prints it as one line and exits 2."""

from __future__ import annotations


class EdgecglError(Exception):
    """A problem the user can fix: bad path, bad flag, bad data. Carries a one-line message and a hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class NotAvailableYet(EdgecglError):
    """A planned subcommand that is not built yet: exit 2, never a fake success."""
