"""The seasonal prior the smooth adjustment is added to (BKO's Λ(t)), and the long-term anchor.

Shape: from history, the average price of each calendar month and block relative to the overall average
(1.0 where history has no such month). Level: the hour-weighted average of the last traded year's ATC
quotes, held through the traded horizon (the adjustment supplies the term structure there) and escalated
beyond it at `escalation` a year — the long end is this anchor, flagged as modelled.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

BLOCK_COLUMNS = ("PEAK", "OFFPEAK")


def seasonal_shape(history: pa.Table | None) -> np.ndarray:
    """(12, 2) factors by calendar month and block from rows with `month` (1..12), `is_peak` and `lmp`."""
    shape = np.ones((12, 2))
    if history is None or history.num_rows == 0:
        return shape
    months = history.column("month").to_numpy()
    peak = history.column("is_peak").to_numpy(zero_copy_only=False).astype(bool)
    lmp = history.column("lmp").to_numpy()
    overall = float(lmp.mean())
    if not np.isfinite(overall) or abs(overall) < 1e-9:
        return shape
    seen = np.zeros((12, 2), dtype=bool)
    for block, chosen in enumerate((peak, ~peak)):
        for month in range(1, 13):
            values = lmp[chosen & (months == month)]
            if values.size:
                shape[month - 1, block] = values.mean() / overall
                seen[month - 1, block] = True
    # months without history keep the average peak/off-peak split seen elsewhere, at level 1
    if seen.any():
        for block in range(2):
            if seen[:, block].any() and not seen[:, block].all():
                typical = shape[seen[:, block], block].mean() / shape[seen].mean()
                shape[~seen[:, block], block] = typical
    return shape


def prior_values(
    months: np.ndarray,
    years_beyond: np.ndarray,
    shape: np.ndarray,
    level: float,
    escalation: float,
) -> np.ndarray:
    """(n, 2) prior for cells in calendar `months` (Jan = 0), `years_beyond` the traded horizon (0
    inside it)."""
    levels = level * (1.0 + escalation) ** np.asarray(years_beyond, dtype=float)
    return shape[months] * levels[:, None]
