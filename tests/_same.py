"""Comparisons of results that hold on any CPU and thread count.

BLAS and oneDNN kernels round differently with batch size, thread count
and CPU, so a pattern's answer may differ in the last bits between two
batchings, between threads or between eager and lazy runs. These helpers
accept that (1e-4 in a unit quaternion's components is 0.01°; 1e-4 in a
confidence is far below any figure reported) and nothing more: a real bug
(patterns swapped between batches, padding read as peaks, a chunk mapped
twice) moves answers by degrees and flips phases.
"""

import numpy as np

#: Largest difference of quaternion components (0.01°) and of other columns.
ATOL = 1e-4


def assert_same_quaternions(a, b, atol: float = ATOL) -> None:
    """Equal unit quaternions up to sign, to ``atol`` in each component."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    sign = np.where(np.sum(a * b, -1, keepdims=True) < 0, -1.0, 1.0)
    np.testing.assert_allclose(a, sign * b, rtol=0, atol=atol)


def assert_same_table(a, b, atol: float = ATOL) -> None:
    """Result tables ``(..., 4 + columns)``: quaternions up to sign, the phase
    index exactly, the other columns to ``atol`` (relative to their size)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape
    assert_same_quaternions(a[..., :4], b[..., :4], atol)
    np.testing.assert_array_equal(a[..., 4], b[..., 4])
    np.testing.assert_allclose(a[..., 5:], b[..., 5:], rtol=atol, atol=atol)
