"""The standard's Avro schemas (``<family>/<Name>.v<N>.avsc``), for partners to read here.

This directory also ships inside the installed package as ``hub.standard.catalog`` (pyproject.toml's
``package-dir``), where :mod:`hub.standard.schemas` reads it with :mod:`importlib.resources`; this
file makes it an importable package in editable and regular installs alike. It holds no code.
"""
