"""``python -m semiformer_lib.train --config FILE [key=value …]``: see :mod:`semiformer_lib.train.run`."""
import sys

from .run import main

sys.exit(main())
