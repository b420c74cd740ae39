"""Training recipes of the zoo's own weights: one module per ``model_variant``, each with a
declarative ``RECIPE`` dict and ``run(data, output_dir) -> dict``."""

__all__: list[str] = []
