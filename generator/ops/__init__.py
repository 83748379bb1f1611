"""Day-two operations on what aiar deployed: the logic behind commands such as ``aiar storage``.

Each module is plain functions over typed results; the command line (``generator.cli_storage``)
turns them into output and exit codes.
"""
