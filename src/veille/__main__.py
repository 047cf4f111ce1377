"""`python -m veille` runs the veille command."""

from veille.entrypoints.cli import main

main()
