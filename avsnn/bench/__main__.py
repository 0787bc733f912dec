"""``python -m avsnn.bench ...``: the same as ``avsnn bench ...``."""

from .cli import main

raise SystemExit(main())
