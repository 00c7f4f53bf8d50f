"""Claims: every sentence a chapter asserts about its results is checked when the chapter runs.

    claim("the CNN beats the ViT at 40 labels/class", cnn_acc > vit_acc + 0.05)

prints ``✓ the CNN beats …`` or raises :class:`ClaimFailed` with ``✗ the CNN beats …``, so a chapter whose
science stops holding fails CI instead of quietly printing a false sentence.

A claim is one of two kinds, and says which:

* :func:`check` — true by construction or a sanity check (a shape, a parameter count, a resumed run equal to the
  uninterrupted one): ``✓ check: …``;
* :func:`finding` — an effect measured over seeds, shown with its evidence: every seed's value, their mean and
  their range, ``✓ finding: … ⟨seed 0 +2.1 · seed 1 +0.4 · seed 2 +1.7 · mean +1.4, range +0.4 … +2.1⟩``.
  A finding needs at least two seeds: one seed is an anecdote. The values in ``⟨…⟩`` depend on the machine's
  arithmetic; the test suite's nbval sanitizer blanks them, so the claim's text and verdict are what CI compares.

:func:`claim` is the unlabeled form underneath both, for code outside the book; every chapter says which kind
it asserts (``tests/test_notebooks.py`` keeps them so).
"""
from __future__ import annotations

from collections.abc import Mapping
from statistics import mean

CHECK, CROSS = "\u2713", "\u2717"
EVIDENCE_OPEN, EVIDENCE_CLOSE = "\u27e8", "\u27e9"           # ⟨ ⟩ around a finding's per-seed values


class ClaimFailed(AssertionError):
    """A chapter's claim did not hold for the numbers this run produced."""


def claim(text: str, condition, detail: str = "") -> None:
    """Print ``✓ text`` when ``condition`` is true, else raise ``ClaimFailed('✗ text — detail')``."""
    if bool(condition):
        print(f"{CHECK} {text}")
        return
    raise ClaimFailed(f"{CROSS} {text}" + (f" — {detail}" if detail else ""))


def check(text: str, condition, detail: str = "") -> None:
    """A claim true by construction or a sanity check: ``✓ check: text``, or :class:`ClaimFailed`."""
    claim(f"check: {text}", condition, detail)


def evidence(values: Mapping, fmt: str = "{:+.1f}", key: str = "seed {}") -> str:
    """``⟨seed 0 +2.1 · seed 1 +0.4 · mean +1.3, range +0.4 … +2.1⟩`` for ``{seed: value}``; ``key`` names each
    run (``"{} labels/class"`` when the runs differ in their label budget instead of their seed)."""
    numbers = list(values.values())
    seeds = " · ".join(f"{key.format(seed)} {fmt.format(value)}" for seed, value in values.items())
    spread = f"mean {fmt.format(mean(numbers))}, range {fmt.format(min(numbers))} … {fmt.format(max(numbers))}"
    return f"{EVIDENCE_OPEN}{seeds} · {spread}{EVIDENCE_CLOSE}"


def finding(text: str, values: Mapping, holds, fmt: str = "{:+.1f}", detail: str = "",
            key: str = "seed {}") -> None:
    """An effect measured over seeds: ``values`` maps each seed to the measured quantity (in the unit ``text``
    names; ``fmt`` formats it) and ``holds`` is the verdict the chapter computed from them (say, every seed above a
    threshold). Prints ``✓ finding: text ⟨…⟩`` with :func:`evidence`, or raises :class:`ClaimFailed` with the same
    line under ``✗``. Fewer than two seeds is refused: a finding rests on more than one run. Independent runs that
    differ in something other than the seed (say, the label budget) are named by ``key``."""
    if len(values) < 2:
        raise ValueError(f"a finding needs at least two seeds, got {len(values)}: {text!r}. One run is an anecdote; "
                         "use check() for what holds by construction")
    claim(f"finding: {text} {evidence(values, fmt, key)}", holds, detail)
