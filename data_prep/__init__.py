"""Dataset preparation for the Semiformer book: find or download the raw files, verify them, write the
low-label split files. Run ``python -m data_prep --help``."""
