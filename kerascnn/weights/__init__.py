"""Weights: typed cards, the cache, verified downloads, URL policy, converters, loading."""

__all__: list[str] = []
