"""Errors that the CLI reports as one line, ``Error: <problem>; <fix>``, and exit code 2, and
the warning of a name kept one release after it was renamed."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

__all__ = [
    "KerascnnDeprecationWarning",
    "UnknownModelError",
    "UserError",
    "WeightsUnavailableError",
    "deprecated",
]


class UserError(ValueError):
    """A mistake in what the user asked for; the message is ``<problem>; <fix>`` with the value
    received. A ``ValueError`` for Python callers; the CLI prints ``Error: <message>``, exit 2.

    ``arguments`` maps how the message names a Python argument (``"image_size=(height,
    width)"``) to the parameter's name (``"image_size"``): the CLI shows its flag instead
    (``--image-size H W``; ``kerascnn.cli.main.FLAGS``).
    """

    def __init__(self, *args: object, arguments: Mapping[str, str] | None = None) -> None:
        super().__init__(*args)
        self.arguments = dict(arguments or {})


class UnknownModelError(UserError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsUnavailableError(UserError):
    """Published weights that are neither cached nor downloadable now (offline, no network)."""


class KerascnnDeprecationWarning(DeprecationWarning):
    """A name kept for one release after it was renamed (``CHANGELOG.md`` lists them)."""


def deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (the caller of the caller's line).

    Args:
        old: the old name, as the user wrote it (``"kerascnn.train.fit"``).
        new: what to write instead (``"kerascnn.fit"``).
        stacklevel: as :func:`warnings.warn`'s; 3 points at the code calling the function
            that calls this.
    """
    message = f"{old} is deprecated and goes in the next release; use {new}"
    warnings.warn(message, KerascnnDeprecationWarning, stacklevel=stacklevel)
