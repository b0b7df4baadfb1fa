"""The standard's Avro schemas (``<family>/<Name>.v<N>.avsc``) and the domain rules beside them
(``<family>/<Name>.v<N>.rules.json``, docs/standard.md section 12), for partners to read here.

This directory also ships inside the installed package as ``hub.standard.catalog`` (pyproject.toml's
``package-dir``), where :mod:`hub.standard.schemas` reads it with :mod:`importlib.resources`; this
file makes it an importable package in editable and regular installs alike. It holds no code.
"""
