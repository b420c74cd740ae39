"""``python -m kerascnn.cli``."""

from kerascnn.cli.main import main

main()
