"""aiar's model server, copied into every image as the top-level package ``aiar_runtime``.

Only relative imports inside this package: it must work both as ``generator.runtime`` in the repo
and as ``aiar_runtime`` in an image.
"""
