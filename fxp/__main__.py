"""``python -m fxp``: see :mod:`fxp.cli`."""

import sys

from .cli import main

sys.exit(main())
