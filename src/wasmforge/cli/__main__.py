"""``python -m wasmforge.cli`` runs the command line."""

from . import main

main()
