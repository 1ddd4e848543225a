"""``python -m segmint`` runs the command line."""

from segmint.cli import main

main()
