"""Herald's shipped templates, installed as package data.

Nothing here is code: the folders are email types, ``catalog.toml`` lists
their tags, and ``_layout.*``/``_macros.html`` are the brand layout.
"""
