"""``python -m semiformer_lib.train --config FILE [key=value …]``: the command the book and README name, kept here
for its short name; the run itself is :mod:`semiformer_lib.runs.run` (the one import up the layers, allowed by name
in ``pyproject.toml``)."""
import sys

from ..runs.run import main

sys.exit(main())
