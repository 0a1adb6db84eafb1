"""Bragg-disk tokens: the only input the model ever sees.

One function, :func:`make_tokens`, turns any
:class:`~pyxem_transformer.peak_set.PeakSet`
(simulated spots or peaks found in measured patterns) into a fixed-size
token array and a padding mask, so training and inference cannot drift apart.

Token features (:data:`FEATURES`), one row per kept peak:

``kx``, ``ky``
    Position in 1/Å relative to the direct beam, detector frame.
``g``
    Length ``sqrt(kx**2 + ky**2)`` in 1/Å.
``intensity``
    Peak intensity divided by the strongest kept peak of the pattern (so 1
    for the strongest), which removes dose, gain and dtype.

Peaks inside ``direct_beam_radius`` are dropped (the direct beam), as are
peaks beyond ``max_radius`` and non-finite ones; the ``n_tokens`` strongest
of the rest are kept, in order of decreasing intensity. Unused rows are
zero and masked.
"""

from dataclasses import asdict, dataclass

import numpy as np

from pyxem_transformer.peak_set import PeakSet

__all__ = ["FEATURES", "TokenSettings", "make_tokens"]

#: Names of the token features, in order.
FEATURES = ("kx", "ky", "g", "intensity")


@dataclass(frozen=True)
class TokenSettings:
    """How peaks become tokens; stored with every model.

    Attributes
    ----------
    n_tokens
        Number of tokens per pattern (the strongest peaks are kept).
    direct_beam_radius
        Peaks closer than this to the centre (1/Å) are the direct beam.
    max_radius
        Peaks farther than this from the centre (1/Å) are ignored.
    """

    n_tokens: int = 32
    direct_beam_radius: float = 0.12
    max_radius: float = 1.5

    def __post_init__(self) -> None:
        if int(self.n_tokens) < 1:
            raise ValueError(f"`n_tokens` must be at least 1, got {self.n_tokens}.")
        if not 0 <= self.direct_beam_radius < self.max_radius:
            raise ValueError(
                "Need 0 <= direct_beam_radius < max_radius, got "
                f"{self.direct_beam_radius} and {self.max_radius}."
            )

    def as_dict(self) -> dict:
        """Return the settings as a plain dictionary.

        Returns
        -------
        settings
            Field names and values.
        """
        return asdict(self)

    @classmethod
    def from_peak_counts(
        cls, counts: np.ndarray, quantile: float = 0.95, **kwargs
    ) -> "TokenSettings":
        """Choose ``n_tokens`` from the data: a quantile of peaks per pattern.

        The value is rounded up to a multiple of 8 (at least 8).
        """
        counts = np.asarray(counts)
        if counts.size == 0:
            raise ValueError("Cannot choose n_tokens from an empty set of patterns.")
        n = int(np.ceil(np.quantile(counts, quantile) / 8.0) * 8)
        return cls(n_tokens=max(8, n), **kwargs)


def _usable(peaks: PeakSet, settings: TokenSettings) -> tuple[np.ndarray, np.ndarray]:
    """Each peak's ``|k|`` and whether it can be a token: finite, of
    positive intensity, outside the direct beam and within ``max_radius``
    (before the cut to the ``n_tokens`` strongest)."""
    g = np.hypot(peaks.kx, peaks.ky)
    usable = (
        np.isfinite(peaks.kx)
        & np.isfinite(peaks.ky)
        & np.isfinite(peaks.intensity)
        & (peaks.intensity > 0)
        & (g >= settings.direct_beam_radius)
        & (g <= settings.max_radius)
    )
    return g, usable


def make_tokens(
    peaks: PeakSet, settings: TokenSettings = TokenSettings()
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a batch of peak lists into tokens and a padding mask.

    Parameters
    ----------
    peaks
        Peaks of ``n`` patterns.
    settings
        Token settings (use the model's own at inference).

    Returns
    -------
    tokens
        ``(n, n_tokens, 4)`` float32, features :data:`FEATURES`.
    mask
        ``(n, n_tokens)`` bool, True where a token holds a peak. A pattern
        with no usable peak has an all-False row, for the caller to flag.

    Examples
    --------
    >>> import numpy as np
    >>> from pyxem_transformer.peak_set import PeakSet
    >>> from pyxem_transformer.tokens import TokenSettings, make_tokens
    >>> peaks = PeakSet.from_lists([np.array([[0.0, 0.0, 9.0], [0.3, 0.4, 2.0],
    ...                                       [-0.6, 0.0, 4.0]])])
    >>> tokens, mask = make_tokens(peaks, TokenSettings(n_tokens=4))
    >>> np.round(tokens[0, :2], 2)
    array([[-0.6,  0. ,  0.6,  1. ],
           [ 0.3,  0.4,  0.5,  0.5]], dtype=float32)
    >>> mask.tolist()
    [[True, True, False, False]]
    """
    n = peaks.n_patterns
    n_tokens = int(settings.n_tokens)
    tokens = np.zeros((n, n_tokens, len(FEATURES)), np.float32)
    mask = np.zeros((n, n_tokens), bool)
    if n == 0 or peaks.kx.size == 0:
        return tokens, mask
    kx, ky, intensity = peaks.kx, peaks.ky, peaks.intensity
    pattern = peaks.pattern_index
    g, usable = _usable(peaks, settings)
    kx, ky, g = kx[usable], ky[usable], g[usable]
    intensity, pattern = intensity[usable], pattern[usable]
    # Strongest first within each pattern.
    order = np.lexsort((-intensity, pattern))
    kx, ky, g = kx[order], ky[order], g[order]
    intensity, pattern = intensity[order], pattern[order]
    starts = np.concatenate([[0], np.cumsum(np.bincount(pattern, minlength=n))])
    rank = np.arange(pattern.size) - starts[pattern]
    keep = rank < n_tokens
    pattern, rank = pattern[keep], rank[keep]
    strongest = np.zeros(n, np.float32)
    strongest[pattern[rank == 0]] = intensity[keep][rank == 0]
    tokens[pattern, rank, 0] = kx[keep]
    tokens[pattern, rank, 1] = ky[keep]
    tokens[pattern, rank, 2] = g[keep]
    tokens[pattern, rank, 3] = intensity[keep] / strongest[pattern]
    mask[pattern, rank] = True
    return tokens, mask
