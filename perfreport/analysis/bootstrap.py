"""Circular block bootstrap over per-block summaries of a time-ordered series.

Requests of a load test are correlated in time, so resampling single requests
understates the variance of every statistic. This module resamples contiguous
blocks instead, and does it on per-block summaries so that a run of a million
requests costs a few matrix products, not a million-element copy per resample:

* The series is cut into sub-blocks of ``sub_length`` consecutive requests. A
  resampled block is ``sub_per_block`` consecutive sub-blocks, wrapping around the
  end of the run (the circular block bootstrap of Politis and Romano, 1992, with
  block starts restricted to the sub-block grid).
* A resample is a weight per sub-block: how many times it was drawn. The mean of
  a resample is ``W @ sums / W @ counts``, exactly.
* For quantiles each value is rounded to a log-spaced bin whose edges are a factor
  ``1 + BIN_RELATIVE_WIDTH`` apart. The bin counts of the sub-blocks near the
  quantile are summed with the weights. The binned quantile of a resample is
  within ``sqrt(1 + BIN_RELATIVE_WIDTH) - 1`` (relative) of the exact one, for
  non-zero values; zero is a bin of its own and exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BIN_RELATIVE_WIDTH = 1e-3
"""Ratio minus one between neighbouring bin centres of the quantile histogram."""

MAX_SUB_BLOCKS = 2048
"""Cap on the sub-blocks of one run; above it the block length grows with ``n``."""

SUB_BLOCKS_PER_BLOCK = 4
"""Grid resolution: a block may start at any quarter of a block length."""

QUANTILE_ERROR_BOUND = math.sqrt(1.0 + BIN_RELATIVE_WIDTH) - 1.0
"""Largest relative error of a resampled quantile caused by the binning."""


@dataclass(frozen=True)
class BlockPlan:
    """The sub-block grid of one run: ``n_sub`` sub-blocks of ``sub_length`` each."""

    n: int
    sub_length: int
    sub_per_block: int

    @property
    def block_length(self) -> int:
        """Requests in one resampled block."""
        return self.sub_length * self.sub_per_block

    @property
    def n_sub(self) -> int:
        """Number of sub-blocks; the last one may be shorter than ``sub_length``."""
        return -(-self.n // self.sub_length)

    @property
    def n_blocks(self) -> float:
        """Run length in blocks: the independent pieces the bootstrap resamples."""
        return self.n / self.block_length


def plan_blocks(n: int, block_length: int) -> BlockPlan:
    """Return the sub-block grid for ``n`` requests and a requested block length.

    The returned block length is ``block_length`` rounded up to a multiple of the
    sub-block length, and grown further when the run would otherwise have more
    than :data:`MAX_SUB_BLOCKS` sub-blocks.
    """
    block_length = max(1, min(block_length, n))
    sub_per_block = min(SUB_BLOCKS_PER_BLOCK, block_length)
    sub_length = -(-block_length // sub_per_block)
    sub_length = max(sub_length, -(-n // MAX_SUB_BLOCKS))
    return BlockPlan(n=n, sub_length=sub_length, sub_per_block=sub_per_block)


def draw_starts(plan: BlockPlan, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Draw the block starts of circular-block resamples, shape (resamples, draws).

    Each resample draws ``ceil(n_sub / sub_per_block)`` block starts uniformly on
    the sub-block grid, so its length is the run's length rounded up to a block.
    """
    n_draws = -(-plan.n_sub // plan.sub_per_block)
    return rng.integers(0, plan.n_sub, size=(n_resamples, n_draws))


def resample_weights(
    plan: BlockPlan, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw circular-block resamples as sub-block weights, shape (resamples, n_sub)."""
    return weights_from_starts(plan, draw_starts(plan, n_resamples, rng))


def weights_from_starts(plan: BlockPlan, starts: np.ndarray) -> np.ndarray:
    """Return how often each resample covers each sub-block, shape (resamples, n_sub)."""
    n_sub = plan.n_sub
    n_resamples = starts.shape[0]
    flat = (starts + n_sub * np.arange(n_resamples)[:, None]).ravel()
    start_counts = np.bincount(flat, minlength=n_resamples * n_sub)
    start_counts = start_counts.reshape(n_resamples, n_sub).astype(np.float64)

    # A block starting at sub-block s covers s .. s + sub_per_block - 1, wrapping.
    weights = start_counts.copy()
    for offset in range(1, min(plan.sub_per_block, n_sub)):
        weights[:, offset:] += start_counts[:, :-offset]
        weights[:, :offset] += start_counts[:, -offset:]
    return weights


def sub_block_starts(plan: BlockPlan) -> np.ndarray:
    """Return the index of the first request of every sub-block."""
    return np.arange(0, plan.n, plan.sub_length)


def block_totals(per_sub_block: np.ndarray, plan: BlockPlan) -> np.ndarray:
    """Return, for each block start, the total over the sub-blocks that block covers."""
    totals = per_sub_block.astype(np.float64)
    result = totals.copy()
    for offset in range(1, min(plan.sub_per_block, plan.n_sub)):
        result += np.roll(totals, -offset)
    return result


def resample_means(
    values: np.ndarray, plan: BlockPlan, weights: np.ndarray
) -> np.ndarray:
    """Return the mean of every resample given as sub-block weights (exact, no binning)."""
    starts = sub_block_starts(plan)
    sums = np.add.reduceat(values.astype(np.float64), starts)
    counts = np.diff(np.append(starts, plan.n)).astype(np.float64)
    return (weights @ sums) / (weights @ counts)


def resample_means_from_starts(
    values: np.ndarray, plan: BlockPlan, starts: np.ndarray
) -> np.ndarray:
    """Return the mean of every resample given as block starts (exact, no binning).

    It adds up each block's sum and count by its start, so it needs no
    (resamples x sub-blocks) weight matrix. At 2,000 resamples of 2,048
    sub-blocks that is about a million lookups, where :func:`resample_means`
    multiplies about four million weights.
    """
    bounds = sub_block_starts(plan)
    sums = block_totals(np.add.reduceat(values.astype(np.float64), bounds), plan)
    counts = block_totals(np.diff(np.append(bounds, plan.n)), plan)
    return sums[starts].sum(axis=1) / counts[starts].sum(axis=1)


@dataclass(frozen=True)
class BinnedSeries:
    """A run's values rounded to log-spaced bins, kept in time order.

    ``bin_index[i]`` is the bin of request ``i``; ``bin_values`` are the bins'
    centres in ascending order; ``sub_id[i]`` is the sub-block of request ``i``.
    """

    bin_index: np.ndarray
    bin_values: np.ndarray
    cumulative_counts: np.ndarray
    sub_id: np.ndarray
    n_sub: int


def bin_series(values: np.ndarray, plan: BlockPlan) -> BinnedSeries:
    """Round ``values`` to log-spaced bins; see the module docstring for the bound."""
    step = math.log1p(BIN_RELATIVE_WIDTH)
    if values.size and bool(np.all(values > 0)):
        # Fast path for latencies: the rounded exponent is the bin, no sort needed.
        exponent = np.round(np.log(values) / step).astype(np.int64)
        lowest = int(exponent.min())
        bin_index = exponent - lowest
        bin_values = np.exp((lowest + np.arange(int(bin_index.max()) + 1)) * step)
    else:
        magnitude = np.abs(values)
        nonzero = magnitude > 0
        centres = np.zeros_like(values, dtype=np.float64)
        exponent = np.round(np.log(magnitude[nonzero]) / step)
        centres[nonzero] = np.sign(values[nonzero]) * np.exp(exponent * step)
        bin_values, bin_index = np.unique(centres, return_inverse=True)

    counts = np.bincount(bin_index, minlength=bin_values.size)
    sub_id = np.arange(values.size) // plan.sub_length
    return BinnedSeries(
        bin_index=bin_index,
        bin_values=bin_values,
        cumulative_counts=np.cumsum(counts),
        sub_id=sub_id,
        n_sub=plan.n_sub,
    )


def resample_quantiles(
    binned: BinnedSeries, weights: np.ndarray, q: float
) -> np.ndarray:
    """Return the k6 (linear-interpolation) ``q`` quantile of every resample.

    Only the bins near the quantile are summed. The window is sized from how far
    each resample's count of values below the run's own quantile strays from its
    target rank, and doubles until every resample's quantile falls inside it.
    """
    n = int(binned.cumulative_counts[-1])
    half_width = _rank_spread(binned, weights, q, n) * 1.25 + 10.0
    while True:
        result = _quantiles_in_window(binned, weights, q, n, half_width)
        if result is not None:
            return result
        half_width *= 2


def _rank_spread(binned: BinnedSeries, weights: np.ndarray, q: float, n: int) -> float:
    # Largest distance, in ranks of the original run, between a resample's target
    # rank and its count of values below the run's quantile bin.
    point_bin = int(
        np.searchsorted(binned.cumulative_counts, int(q * (n - 1)), "right")
    )
    below = np.bincount(
        binned.sub_id[binned.bin_index < point_bin], minlength=binned.n_sub
    ).astype(np.float64)
    totals = np.bincount(binned.sub_id, minlength=binned.n_sub).astype(np.float64)
    resampled_n = weights @ totals
    distance = np.abs(q * (resampled_n - 1) - weights @ below) * n / resampled_n
    return float(distance.max())


def _quantiles_in_window(
    binned: BinnedSeries,
    weights: np.ndarray,
    q: float,
    n: int,
    half_width: float,
) -> np.ndarray | None:
    # The window is given in ranks of the run's own sorted values, then mapped to bins.
    centre = q * (n - 1)
    low_rank = max(0, int(centre - half_width))
    high_rank = min(n - 1, math.ceil(centre + half_width))
    first_bin = int(np.searchsorted(binned.cumulative_counts, low_rank, side="right"))
    last_bin = int(np.searchsorted(binned.cumulative_counts, high_rank, side="right"))
    width = last_bin - first_bin + 1
    whole_range = first_bin == 0 and last_bin == binned.bin_values.size - 1

    in_window = (binned.bin_index >= first_bin) & (binned.bin_index <= last_bin)
    below = np.bincount(
        binned.sub_id[binned.bin_index < first_bin], minlength=binned.n_sub
    )
    cells = binned.sub_id[in_window] * width + (binned.bin_index[in_window] - first_bin)
    histogram = np.bincount(cells, minlength=binned.n_sub * width)
    histogram = histogram.reshape(binned.n_sub, width).astype(np.float64)
    totals = np.bincount(binned.sub_id, minlength=binned.n_sub).astype(np.float64)

    resampled_n = weights @ totals
    resampled_below = weights @ below.astype(np.float64)
    cumulative = resampled_below[:, None] + np.cumsum(weights @ histogram, axis=1)
    position = q * (resampled_n - 1)
    lower_rank = np.floor(position)
    fraction = position - lower_rank
    upper_rank = np.minimum(lower_rank + 1, resampled_n - 1)

    # Ranks are 0-based: the value of rank r is in the first bin whose cumulative
    # count exceeds r. Both ranks must fall inside the window.
    inside = (resampled_below <= lower_rank) & (cumulative[:, -1] > upper_rank)
    if not whole_range and not bool(inside.all()):
        return None
    lower_bin = np.argmax(cumulative > lower_rank[:, None], axis=1)
    upper_bin = np.argmax(cumulative > upper_rank[:, None], axis=1)
    lower_value = binned.bin_values[first_bin + lower_bin]
    upper_value = binned.bin_values[first_bin + upper_bin]
    return lower_value + fraction * (upper_value - lower_value)
