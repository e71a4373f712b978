"""``python -m hashcore.cli``: the ``hashcore`` command."""

import sys

from . import main

sys.exit(main())
