"""``python -m wasmforge`` runs the command line."""

from .cli import main

main()
