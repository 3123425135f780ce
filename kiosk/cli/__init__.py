"""The ``kiosk`` command line: one module per command group."""

from kiosk.cli.main import main

__all__ = ["main"]
