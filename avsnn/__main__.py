"""``python -m avsnn``: the command line (:mod:`avsnn.cli`)."""

import sys

from .cli import main

sys.exit(main())
