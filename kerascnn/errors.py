"""Errors that the CLI reports as one line, ``Error: <problem>; <fix>``, and exit code 2."""

__all__ = ["UnknownModelError", "UserError", "WeightsUnavailableError"]


class UserError(ValueError):
    """A mistake in what the user asked for: a bad argument, file or name.

    The message is ``<problem>; <fix>``: what is wrong, with the value received, then what
    to do. Subclasses ``ValueError`` so Python callers can catch it as usual; the CLI
    prints it as ``Error: <message>`` on one line, without a traceback, and exits with 2.
    """


class UnknownModelError(UserError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsUnavailableError(UserError):
    """Published weights that are neither cached nor downloadable now (offline, no network)."""
