"""``python -m segmint.cli`` runs the command line (as ``python -m segmint`` does)."""

from segmint.cli import main

main()
