"""The one layout of peaks that simulation and peak finding both produce.

:class:`PeakSet` holds flat arrays of every peak in a batch of patterns, in
1/Å relative to the direct beam in the detector frame (``kx`` along
columns, ``ky`` along rows, the frame of a pyxem ``Diffraction2D``'s signal
axes), plus an ``offsets`` array giving each pattern's slice. Simulated spot
lists (:mod:`pyxem_transformer.simulation`) and peaks found in images
(:mod:`pyxem_transformer.tokens.peaks`) are both ``PeakSet`` objects, and
:func:`pyxem_transformer.tokens.make_tokens` turns either into tokens, so
training and mapping cannot drift apart.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["PeakSet"]


@dataclass
class PeakSet:
    """Peaks of a batch of patterns, flat, with per-pattern offsets.

    Attributes
    ----------
    kx, ky
        Positions in 1/Å relative to the direct beam (detector frame).
    intensity
        Peak intensities (any scale; tokens normalise per pattern).
    offsets
        ``(n_patterns + 1,)`` int64; pattern ``i`` owns
        ``slice(offsets[i], offsets[i + 1])``.
    """

    kx: np.ndarray
    ky: np.ndarray
    intensity: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        self.kx = np.asarray(self.kx, dtype=np.float32).reshape(-1)
        self.ky = np.asarray(self.ky, dtype=np.float32).reshape(-1)
        self.intensity = np.asarray(self.intensity, dtype=np.float32).reshape(-1)
        self.offsets = np.asarray(self.offsets, dtype=np.int64).reshape(-1)
        n = self.kx.size
        if not (self.ky.size == n and self.intensity.size == n):
            raise ValueError("kx, ky and intensity must have the same length.")
        if (
            self.offsets.size < 1
            or self.offsets[0] != 0
            or self.offsets[-1] != n
            or np.any(np.diff(self.offsets) < 0)
        ):
            raise ValueError(
                "offsets must start at 0, never decrease and end at the number "
                "of peaks."
            )

    @property
    def n_patterns(self) -> int:
        """Number of patterns."""
        return self.offsets.size - 1

    @property
    def counts(self) -> np.ndarray:
        """Number of peaks in each pattern."""
        return np.diff(self.offsets)

    @property
    def pattern_index(self) -> np.ndarray:
        """Pattern index of every peak."""
        return np.repeat(np.arange(self.n_patterns), self.counts)

    def pattern(self, i: int) -> np.ndarray:
        """Return the peaks of pattern ``i`` as ``(n, 3)``: kx, ky, intensity.

        Parameters
        ----------
        i
            Pattern index.

        Returns
        -------
        peaks
            Array of shape ``(n, 3)``.
        """
        sl = slice(self.offsets[i], self.offsets[i + 1])
        return np.stack([self.kx[sl], self.ky[sl], self.intensity[sl]], axis=1)

    def take(self, indices: np.ndarray) -> "PeakSet":
        """Return the peak set of the patterns ``indices`` (in that order).

        Parameters
        ----------
        indices
            Pattern indices.

        Returns
        -------
        peaks
            A new peak set.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        counts = self.counts[indices]
        starts = self.offsets[indices]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        # Position of every selected peak in the flat arrays.
        flat = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])
        return PeakSet(self.kx[flat], self.ky[flat], self.intensity[flat], offsets)

    @classmethod
    def from_lists(cls, peaks: list[np.ndarray]) -> "PeakSet":
        """Build from a list of ``(n_i, 3)`` arrays of kx, ky, intensity."""
        counts = [len(p) for p in peaks]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        stacked = (
            np.concatenate(
                [np.asarray(p, dtype=np.float32).reshape(-1, 3) for p in peaks]
            )
            if sum(counts)
            else np.zeros((0, 3), np.float32)
        )
        return cls(stacked[:, 0], stacked[:, 1], stacked[:, 2], offsets)

    @classmethod
    def concatenate(cls, sets: list["PeakSet"]) -> "PeakSet":
        """Join peak sets of consecutive batches."""
        offsets = [np.zeros(1, np.int64)]
        start = 0
        for s in sets:
            offsets.append(s.offsets[1:] + start)
            start += s.kx.size
        return cls(
            np.concatenate([s.kx for s in sets]),
            np.concatenate([s.ky for s in sets]),
            np.concatenate([s.intensity for s in sets]),
            np.concatenate(offsets),
        )
