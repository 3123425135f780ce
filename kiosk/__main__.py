"""python -m kiosk: the kiosk command group."""

from kiosk.cli.main import main

main()
