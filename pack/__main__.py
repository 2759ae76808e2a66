"""`python -m pack` runs the CLI, for environments where the console script is not on PATH."""

from pack.cli import main

main()
