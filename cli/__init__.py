"""`medmaas`: what users do daily. The top layer: it wires everything and nothing imports it.

One module per audience (training, serving and keys, operations, data), all on one app (cli/common.py); --help lists
them in that order. Heavy imports happen inside commands, so --help is instant.
"""

# isort: off
from cli import training, serving, operations, data  # noqa: F401  (each registers its commands, in --help's order)
from cli.common import app

# isort: on

__all__ = ["app"]
