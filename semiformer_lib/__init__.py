"""semiformer_lib — the library behind the Semiformer book (Weng et al., "Semi-Supervised Vision Transformers",
ECCV 2022).

The packages follow the book's story: ``data`` → ``models`` → ``train`` → ``analysis`` → ``viz``
(``ssl`` arrives with chapter 4). ``profiles`` sizes every experiment; ``claims`` checks a chapter's statements.
"""
from .claims import ClaimFailed, claim
from .profiles import Profile, get_profile
from .seeding import seed_everything

__version__ = "0.1.0"
__all__ = ["claim", "ClaimFailed", "Profile", "get_profile", "seed_everything", "__version__"]
