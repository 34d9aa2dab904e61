"""The composition root: the Litestar app factory, controllers, templates, static files and the CLI.

Nothing imports ``web``; it imports and wires everything else.
"""
