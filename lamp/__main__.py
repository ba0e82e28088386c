"""``python -m lamp``: the ``lamp`` command (for environments without the console script on PATH)."""

import sys

from lamp.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
