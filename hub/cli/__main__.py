"""``python -m hub.cli``: the ``hub`` command."""

from hub.cli.main import main

main()
