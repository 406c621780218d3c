"""Multiple-comparison corrections of p-values.

A report compares many endpoints and statistics at once; at alpha = 0.05 one in
twenty unchanged rows would be flagged by chance alone. Two corrections:

* ``"bh"``, Benjamini and Hochberg (1995): controls the false discovery rate, the
  expected share of flagged rows that are not real changes. The default, because a
  release report has dozens of rows and a few false flags among many true ones cost
  less than missing real regressions.
* ``"holm"``, Holm (1979): controls the family-wise error rate, the chance of
  flagging any unchanged row at all. Stricter; use it when one false alarm blocks
  a release.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perfreport.errors import UsageError

CORRECTION_METHODS = ("bh", "holm")
DEFAULT_CORRECTION = "bh"


def adjust_p_values(
    p_values: Sequence[float], method: str = DEFAULT_CORRECTION
) -> np.ndarray:
    """Return adjusted p-values in the input order, each in [0, 1].

    BH: ``p_adj(i) = min over j >= i of (m / j) p(j)`` over the ascending order.
    Holm: ``p_adj(i) = max over j <= i of (m - j + 1) p(j)``, capped at 1.

    Raises:
        UsageError: ``method`` is not ``"bh"`` or ``"holm"``, or a p-value is
            outside [0, 1].
    """
    if method not in CORRECTION_METHODS:
        raise UsageError(
            f"unknown correction method {method!r}; use one of "
            f"{', '.join(CORRECTION_METHODS)}"
        )
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return p
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise UsageError(f"p-values must lie in [0, 1], got {p.tolist()}")

    order = np.argsort(p, kind="stable")
    ranked = p[order]
    m = p.size
    ranks = np.arange(1, m + 1)
    if method == "bh":
        scaled = ranked * m / ranks
        adjusted_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    else:
        scaled = ranked * (m - ranks + 1)
        adjusted_sorted = np.maximum.accumulate(scaled)

    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(adjusted_sorted, 1.0)
    return adjusted
