"""Server-side downsampling of long time windows, so a browser never draws more than about
2,000 points per trace however many events the window holds. No I/O here.

Two established algorithms from `tsdownsample <https://github.com/predict-idlab/tsdownsample>`_
(Rust, SIMD, a few milliseconds for 100,000 points):

``minmax`` (the default)
    The time axis is cut into ``n_out // 2`` buckets of equal width and each bucket keeps
    its smallest and its largest value. Every spike survives, which is what a monitoring
    chart must show (a threshold crossing that an alert fired on never vanishes from view).
``minmaxlttb``
    MinMax preselection followed by Largest-Triangle-Three-Buckets: a shape closer to the
    original line for the same number of points, but a bucket's extreme may be dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
from tsdownsample import MinMaxDownsampler, MinMaxLTTBDownsampler

Algorithm = Literal["minmax", "minmaxlttb"]
ALGORITHMS: tuple[Algorithm, ...] = ("minmax", "minmaxlttb")

#: Default and largest number of points per trace a range request may ask for.
DEFAULT_POINTS = 2000
MAX_POINTS = 10_000


def downsample_indices(
    x: Sequence[float] | npt.NDArray[np.float64],
    y: Sequence[float] | npt.NDArray[np.float64],
    n_out: int = DEFAULT_POINTS,
    algorithm: Algorithm = "minmax",
) -> npt.NDArray[np.int64]:
    """Indices (ascending) of at most ``n_out`` points of ``(x, y)`` to draw.

    ``x`` must be non-decreasing (time); ``y`` must be finite. Series no longer than
    ``n_out`` come back whole. ``n_out`` must be at least 4 (two buckets of min and max).
    """
    if n_out < 4:
        raise ValueError(f"n_out must be >= 4 points, got {n_out!r}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown downsampling algorithm {algorithm!r}; use one of {ALGORITHMS}")
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1-D and of equal length, got {xs.shape} and {ys.shape}")
    if len(xs) <= n_out:
        return np.arange(len(xs), dtype=np.int64)
    # MinMax returns an even count (a min and a max per bucket).
    n_out -= n_out % 2
    # tsdownsample ships no type hints for its constructors.
    sampler = (
        MinMaxDownsampler()  # type: ignore[no-untyped-call]
        if algorithm == "minmax"
        else MinMaxLTTBDownsampler()  # type: ignore[no-untyped-call]
    )
    picked = sampler.downsample(xs, ys, n_out=n_out)
    return np.asarray(picked, dtype=np.int64)
