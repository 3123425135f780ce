"""python -m kiosk: the kiosk command group."""

from .cli import main

main()
