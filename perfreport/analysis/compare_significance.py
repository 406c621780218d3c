"""Fills the significance columns of a comparison frame.

TODO: wire in the block-bootstrap tests of perfreport.analysis.significance; until
then every row stays "untested".
"""

from __future__ import annotations

import pandas as pd

from perfreport.model import AnalysisWarning, Run


def assess(
    frame: pd.DataFrame,
    baseline: Run,
    candidate: Run,
    *,
    confidence: float,
    min_effect: float,
    alpha: float | None,
    correction: str,
    seed: int,
) -> list[AnalysisWarning]:
    """Test each row of ``frame`` in place and return the warnings raised."""
    return []
