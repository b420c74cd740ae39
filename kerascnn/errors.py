"""Errors that the CLI reports as one line, ``Error: <problem>; <fix>``, and exit code 2, and
the warning of a name kept one release after it was renamed."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = [
    "KerascnnDeprecationWarning",
    "UnknownModelError",
    "UserError",
    "WeightsUnavailableError",
    "deprecated",
    "renamed_argument",
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


def renamed_argument(
    function: str, old: str, value: Any, kwargs: MutableMapping[str, Any], new: str = "model"
) -> Any:
    """``value``, or the argument given under its old keyword ``old`` (taken out of ``kwargs``,
    with a deprecation warning); a ``TypeError`` when neither or both are given.

    Args:
        function: the function's public name, for the messages (``"kerascnn.fit"``).
        old: the keyword the argument had before (``"model_or_name"``).
        value: what was given under the new name (``None``: nothing).
        kwargs: the function's ``**kwargs``, where an old keyword lands.
        new: the new name.
    """
    if old in kwargs:
        deprecated(f"{function}({old}=...)", f"{function}({new}=...)", stacklevel=4)
        if value is not None:
            raise TypeError(f"{function}() got both {new} and {old}; give {new} only")
        value = kwargs.pop(old)
    if value is None:
        raise TypeError(f"{function}() missing 1 required argument: {new!r}")
    return value
