"""The kerascnn model zoo: builders (``vgg.py``, ``alexnet.py``, ``gesture.py``) and their cards.

Each ``*.json`` file beside the builders holds the cards of its models as
plain data (builder, default input, parameters, weight variants), read by
``kerascnn.registry`` without importing Keras. Importing this package is cheap.
"""

__all__: list[str] = []
