"""``python -m htr``: see :mod:`htr.cli`."""

import sys

from htr.cli import main

if __name__ == "__main__":
    sys.exit(main())
