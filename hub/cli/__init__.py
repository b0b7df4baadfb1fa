"""The ``hub`` command: one module per command group; it parses, dispatches and prints."""
