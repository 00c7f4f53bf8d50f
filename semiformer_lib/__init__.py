"""semiformer_lib — the library behind the Semiformer book (Weng et al., "Semi-Supervised Vision Transformers",
ECCV 2022).

The packages follow the book's story, each importing only those before it (an import-linter contract in
``pyproject.toml`` keeps them so): ``data`` → ``models`` → ``ssl`` (the pseudo-label objective of chapter 4) →
``train`` (the one training loop, its config, the chapters' sweeps) → ``runs`` (the command line's run, its
checkpoints, artifacts, replays and grids, and ``load_run``/``predict``, which put a finished run to use) →
``analysis`` → ``viz``. Beneath them: ``machine``, ``precision``, ``seeding``, ``progress``. Above them:
``profiles``, the book's plan of experiments, and ``claims``, which checks a chapter's statements.
"""
import warnings

from tqdm import TqdmWarning

# timm's dependencies import tqdm.auto, which warns in every Jupyter kernel without ipywidgets; text progress bars
# are the intended fall-back there (see semiformer_lib.progress), so that warning only adds noise to chapters.
warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)

from .claims import ClaimFailed, check, claim, finding  # noqa: E402
from .profiles import Profile, budgets, get_profile  # noqa: E402
from .seeding import seed_everything  # noqa: E402

__version__ = "0.1.0"
__all__ = ["claim", "check", "finding", "ClaimFailed", "Profile", "budgets", "get_profile", "seed_everything",
           "load_run", "__version__"]


def __getattr__(name: str):
    """``semiformer_lib.load_run``: imported on first use (it brings Pillow and the checkpoint reader along)."""
    if name == "load_run":
        from .runs.predict import load_run
        return load_run
    raise AttributeError(f"module 'semiformer_lib' has no attribute {name!r}")
