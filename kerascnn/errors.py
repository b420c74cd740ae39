"""Errors that the CLI reports as one line, ``Error: <problem>; <fix>``, and exit code 2."""

__all__ = ["UnknownModelError", "UserError", "WeightsUnavailableError"]


class UserError(ValueError):
    """A mistake in what the user asked for; the message is ``<problem>; <fix>`` with the value
    received. A ``ValueError`` for Python callers; the CLI prints ``Error: <message>``, exit 2."""


class UnknownModelError(UserError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsUnavailableError(UserError):
    """Published weights that are neither cached nor downloadable now (offline, no network)."""
