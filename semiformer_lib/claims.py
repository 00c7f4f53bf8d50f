"""Claims: every sentence a chapter asserts about its results is checked when the chapter runs.

    claim("the CNN beats the ViT at 40 labels/class", cnn_acc > vit_acc + 0.05)

prints ``✓ the CNN beats …`` or raises :class:`ClaimFailed` with ``✗ the CNN beats …``, so a chapter whose
science stops holding fails CI instead of quietly printing a false sentence.
"""
from __future__ import annotations

CHECK, CROSS = "\u2713", "\u2717"


class ClaimFailed(AssertionError):
    """A chapter's claim did not hold for the numbers this run produced."""


def claim(text: str, condition, detail: str = "") -> None:
    """Print ``✓ text`` when ``condition`` is true, else raise ``ClaimFailed('✗ text — detail')``."""
    if bool(condition):
        print(f"{CHECK} {text}")
        return
    raise ClaimFailed(f"{CROSS} {text}" + (f" — {detail}" if detail else ""))
