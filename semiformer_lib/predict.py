"""``python -m semiformer_lib.predict RUN_DIR IMAGE_OR_FOLDER …``: see :mod:`semiformer_lib.runs.predict`."""
import sys

from .runs.predict import main

if __name__ == "__main__":
    sys.exit(main())
