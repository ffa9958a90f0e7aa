"""Entry point for ``python -m stages``."""

from stages.cli import main

main()
