"""Where the package's own files lie: page assets and translation catalogues."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
#: Scripts, styles, sounds and the demo directory that the pages and the room load.
ASSETS = PACKAGE / "assets"
#: One JSON catalogue per language of the client's screens.
LOCALES = PACKAGE / "locales"
