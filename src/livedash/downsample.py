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

A window larger than memory should hold goes through :class:`Preselect` a chunk at a time:
MinMax over fine time buckets keeps at most ``2 * n_out`` candidates, then either algorithm
picks the points from those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from tsdownsample import MinMaxDownsampler, MinMaxLTTBDownsampler

Algorithm = Literal["minmax", "minmaxlttb"]
ALGORITHMS: tuple[Algorithm, ...] = ("minmax", "minmaxlttb")

#: Default and largest number of points per trace a range request may ask for.
DEFAULT_POINTS = 2000
MAX_POINTS = 10_000
#: Narrowest time bucket :class:`Preselect` starts with (seconds), for a first chunk whose
#: points share one timestamp.
MIN_BUCKET = 1e-6


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


class Preselect:
    """MinMax over a series that arrives in chunks, in memory bounded by ``n_out``.

    Feed the finite points of each chunk, oldest first, with :meth:`add`; :meth:`result`
    gives the points to draw. Up to ``2 * n_out`` points are kept as they come, so a window
    that small is downsampled exactly as :func:`downsample_indices` would. Past that, the
    time axis is cut into at most ``n_out`` fine buckets of equal width (doubled, two
    merged into one, whenever the series outgrows them), each keeping its smallest and
    largest value. The answer then groups the fine buckets into ``n_out // 2`` buckets and
    keeps each one's min and max: as MinMax over the whole series would, every spike
    survives, because a bucket's extreme is the extreme of one of its fine buckets.
    (``minmaxlttb`` runs its LTTB over the candidates.)

    ``payload`` is carried along with each point (the x value to draw, when it is not the
    time): a NumPy array of the chunk's length."""

    def __init__(self, n_out: int) -> None:
        if n_out < 4:
            raise ValueError(f"n_out must be >= 4 points, got {n_out!r}")
        self.n_out = n_out
        self.fine = n_out
        self.capacity = 2 * self.fine
        #: finite points fed so far
        self.count = 0
        self._t = np.empty(0, dtype=np.float64)
        self._y = np.empty(0, dtype=np.float64)
        self._payload: npt.NDArray[Any] | None = None
        # Fine bucket k holds origin + k * width <= t < origin + (k + 1) * width; no width
        # while the points are kept as they came.
        self._origin = 0.0
        self._width: float | None = None

    def add(
        self,
        t: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        payload: npt.NDArray[Any] | None = None,
    ) -> None:
        """Feed one chunk: times ``t`` and finite values ``y`` (and their ``payload``)."""
        if len(t) == 0:
            return
        self.count += len(t)
        t = np.concatenate((self._t, t))
        y = np.concatenate((self._y, y))
        if payload is not None and self._payload is not None:
            payload = np.concatenate((self._payload, payload))
        if self._width is None and len(t) <= self.capacity:
            self._t, self._y, self._payload = t, y, payload
            return
        if self._width is None:
            self._origin = float(t.min())
            self._width = max((float(t.max()) - self._origin) / self.fine, MIN_BUCKET)
        buckets = self._buckets(t)
        while int(buckets.max()) - int(buckets.min()) >= self.fine:
            self._width *= 2
            buckets //= 2  # floor(floor(x / w) / 2) == floor(x / 2w), negatives included
        keep = _extremes(buckets, y)  # in arrival order
        self._t, self._y = t[keep], y[keep]
        self._payload = None if payload is None else payload[keep]

    def _buckets(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        assert self._width is not None
        return np.floor((t - self._origin) / self._width).astype(np.int64)

    def result(
        self, algorithm: Algorithm = "minmax"
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[Any] | None, bool]:
        """The points to draw, ``(t, y, payload, downsampled)``: every point fed, in arrival
        order, when there were at most ``n_out``; else at most ``n_out`` of them in time order."""
        t, y, payload = self._t, self._y, self._payload
        if self.count <= self.n_out:
            return t, y, payload, False
        # Buckets are cut on time; ts may wobble by microseconds between concurrent
        # publishers, so sort by it first.
        if np.any(np.diff(t) < 0):
            order = np.argsort(t, kind="stable")
            t, y = t[order], y[order]
            payload = None if payload is None else payload[order]
        if self._width is None or algorithm != "minmax":
            picked = downsample_indices(t, y, self.n_out, algorithm)
        else:
            fine = self._buckets(t)
            first, used = int(fine.min()), int(fine.max() - fine.min()) + 1
            groups = self.n_out // 2
            # Whole fine buckets per group, as evenly as they divide: n_out // 2 groups.
            picked = _extremes((fine - first) * groups // used, y)
        return t[picked], y[picked], None if payload is None else payload[picked], True


def _extremes(buckets: npt.NDArray[np.int64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Indices (ascending) of each bucket's smallest and largest ``y`` (the first of equal
    smallest, the last of equal largest)."""
    order = np.lexsort((y, buckets))  # by bucket, then value
    ranked = buckets[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], len(ranked)] - 1
    keep = np.zeros(len(y), dtype=bool)
    keep[order[starts]] = True
    keep[order[ends]] = True
    return np.flatnonzero(keep)
