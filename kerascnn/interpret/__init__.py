"""Interpreting networks: gradient ascent, DeepDream, filter maximisation, pictures."""

__all__: list[str] = []
