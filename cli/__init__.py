"""The ``kerascnn`` command line (click). Installed as ``kerascnn.cli``."""

__all__: list[str] = []
