"""The dynamical tilt search (``refine="dynamical"``)."""

import numpy as np
import pytest
import torch
from orix.quaternion import Rotation

from pyxem_transformer import phases
from pyxem_transformer.crystal.reciprocal import reciprocal_lattice_points, wavelength
from pyxem_transformer.mapping._fit_choice import _search_dynamical
from pyxem_transformer.mapping.predict import predict_tokens
from pyxem_transformer.mapping.tilt import (
    TILT_GRIDS,
    _detection_bins,
    beam_ratio,
    score_rotations,
    search_tilt,
    tilt_profile,
)
from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.tokens.tokenize import TokenSettings, make_tokens

LAMBDA = wavelength(200)
FIELD = (-1.1, 1.1, -1.1, 1.1)


def _two_beam_patterns(n: int, seed: int, reach: float = 1.1):
    """Peaks of ``n`` random Cu orientations with two-beam-like intensities.

    Not the search's own profile: each reflection holds ``0.05 / (1 +
    (s / 0.004)**2)`` of the beam (about 1/t at 250 Å), seen down to 1e-3
    of it, on a detector reaching ``reach`` (1/Å); the direct beam holds
    the rest.
    """
    rng = np.random.default_rng(seed)
    lattice = reciprocal_lattice_points(phases.cu(), 1.8).astype(np.float64)
    q = rng.normal(size=(n, 4))
    rotations = Rotation(q / np.linalg.norm(q, axis=1, keepdims=True))
    lists = []
    for m in rotations.to_matrix():
        v = lattice @ m
        s = (v[:, 0] ** 2 + v[:, 1] ** 2) * LAMBDA / 2 - v[:, 2]
        intensity = 0.05 / (1 + (s / 0.004) ** 2) * rng.lognormal(0, 0.3, len(s))
        kx, ky = -v[:, 0], v[:, 1]
        seen = (intensity > 1e-3) & (np.abs(kx) < reach) & (np.abs(ky) < reach)
        spots = np.stack([kx[seen], ky[seen], intensity[seen]], 1)
        lists.append(np.vstack([[0.0, 0.0, 1.0], spots]))
    return rotations, PeakSet.from_lists(lists), lattice


def _tilted(rotations: Rotation, degrees: float, seed: int) -> np.ndarray:
    """The rotations turned by ``degrees`` about random in-plane axes."""
    angle = np.random.default_rng(seed).uniform(0, 2 * np.pi, rotations.size)
    axes = np.stack([np.cos(angle), np.sin(angle), 0 * angle], 1)
    turn = Rotation.from_axes_angles(axes, np.deg2rad(degrees)).to_matrix()
    return rotations.to_matrix() @ turn


def _search(matrices, peaks, lattice, **kwargs):
    settings = TokenSettings(n_tokens=32)
    tokens, mask = make_tokens(peaks, settings)
    return search_tilt(
        torch.as_tensor(matrices),
        torch.as_tensor(tokens),
        torch.as_tensor(mask),
        torch.as_tensor(lattice),
        LAMBDA,
        beam_ratio(peaks, settings),
        (settings.direct_beam_radius, settings.max_radius),
        FIELD,
        **kwargs,
    ).numpy()


def _errors(matrices, rotations) -> np.ndarray:
    """Angles (degrees) between ``matrices`` and ``rotations`` (no symmetry:
    the search only moves a rotation by a few degrees)."""
    found = Rotation.from_matrix(matrices)
    return np.rad2deg((~rotations * found).angle)


def test_the_search_finds_the_tilt_that_excites_the_seen_reflections():
    rotations, peaks, lattice = _two_beam_patterns(48, seed=3)
    start = _tilted(rotations, 2.5, seed=4)
    found = _search(start, peaks, lattice)
    before, after = _errors(start, rotations), _errors(found, rotations)
    assert np.allclose(before, 2.5, atol=1e-6)
    # Some patterns excite too few reflections to move (measured: median
    # 1.15°, 70-80% closer; a no-op or a wrong sign stays at or above 2.5°).
    assert np.median(after) < 1.5
    assert (after < before - 0.5).mean() > 0.6


def test_the_search_stays_near_the_right_tilt():
    rotations, peaks, lattice = _two_beam_patterns(32, seed=5)
    found = _search(rotations.to_matrix(), peaks, lattice)
    assert np.median(_errors(found, rotations)) < 1.0  # measured 0.63


def test_the_search_only_tilts():
    """It scans tilts about the beam-frame x and y axes: the beam direction
    in the crystal moves, the in-plane angle of the found rotation does not
    turn about the beam."""
    rotations, peaks, lattice = _two_beam_patterns(16, seed=6)
    start = _tilted(rotations, 2.0, seed=7)
    found = _search(start, peaks, lattice)
    step = np.einsum("nji,njk->nik", start, found)  # start.T @ found
    assert np.allclose(step[:, 0, 1] - step[:, 1, 0], 0, atol=1e-3)
    reach = sum(count * spacing for count, spacing in TILT_GRIDS)  # per axis
    tilt = np.rad2deg(np.arccos(np.clip(step[:, 2, 2], -1, 1)))
    assert np.all(tilt < reach * np.sqrt(2) + 0.01)


def test_each_pattern_is_searched_alone():
    rotations, peaks, lattice = _two_beam_patterns(12, seed=8)
    start = _tilted(rotations, 2.0, seed=9)
    together = _search(start, peaks, lattice)
    alone = [
        _search(start[i : i + 1], peaks.take(np.array([i])), lattice) for i in range(12)
    ]
    assert np.allclose(together, np.concatenate(alone), atol=1e-9)


def test_patterns_without_a_beam_or_peaks_keep_their_start():
    rotations, peaks, lattice = _two_beam_patterns(3, seed=10)
    start = _tilted(rotations, 2.0, seed=11)
    lists = [
        np.array([[0.0, 0.0, 1.0]]),  # the beam alone
        np.array([[0.5, 0.3, 0.1], [-0.4, 0.2, 0.05]]),  # no beam
    ]
    bare = PeakSet.from_lists(lists)
    assert np.all(np.isnan(beam_ratio(bare, TokenSettings(n_tokens=32))))
    found = _search(start[:2], bare, lattice)
    assert np.array_equal(found, start[:2])


def test_beam_ratio_is_the_beam_over_the_strongest_token():
    peaks = PeakSet.from_lists(
        [np.array([[0.01, 0.0, 10.0], [0.5, 0.0, 2.0], [0.0, 0.6, 1.0]])]
    )
    assert beam_ratio(peaks, TokenSettings(n_tokens=32)) == pytest.approx([5.0])


def test_the_profile_falls_with_the_excitation_error():
    profile = tilt_profile()
    seen, mean = profile["seen"], profile["mean"]
    assert seen.shape == mean.shape == profile["spread"].shape
    bins = (len(profile["detection_edges"]) + 1, len(profile["g_edges"]) - 1)
    assert seen.shape[:2] == bins
    assert np.all((seen >= 0) & (seen <= 1)) and np.all(np.isfinite(mean))
    assert np.all(seen[..., 0] > seen[..., -1])
    assert np.all(mean[..., 0] > mean[..., -1] + 2)


def test_the_weakest_token_picks_the_detection_bin():
    edges = tilt_profile()["detection_edges"]
    middles = (edges[:-1] + edges[1:]) / 2
    weakest = np.exp(np.concatenate([[edges[0] - 1], middles, [edges[-1] + 1]]))
    n = weakest.size  # one pattern per bin, then two more
    tokens = np.zeros((n + 2, 3, 4))
    tokens[:n, :, 3] = np.stack([10 * weakest, weakest, 2 * weakest], 1)
    tokens[n, :, 3] = np.exp(edges[0] - 1), 0.5, 0.5
    mask = np.ones(tokens.shape[:2], bool)
    mask[n, 0] = False  # a masked token does not count: bin above 0
    mask[n + 1] = False  # no tokens: bin 0, never searched
    bins = _detection_bins(tokens, mask)
    assert bins[:n].tolist() == list(range(n))
    assert bins[n] == n - 1 and bins[n + 1] == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [({"prior": 0.0}, "prior"), ({"grids": ((2, -0.5),)}, "grids")],
)
def test_bad_search_settings_are_refused(kwargs, match):
    rotations, peaks, lattice = _two_beam_patterns(2, seed=12)
    with pytest.raises(ValueError, match=match):
        _search(rotations.to_matrix(), peaks, lattice, **kwargs)


def test_dynamical_refinement_needs_the_beam(tiny_model):
    cu_model = tiny_model
    tokens = np.zeros((2, cu_model.token_settings.n_tokens, 4), np.float32)
    mask = np.zeros(tokens.shape[:2], bool)
    with pytest.raises(ValueError, match="beam_ratio"):
        predict_tokens(cu_model, tokens, mask, refine="dynamical")
    with pytest.raises(ValueError, match="'dynamical'"):
        predict_tokens(cu_model, tokens, mask, refine="kinematic")


def test_the_signal_method_refuses_an_unknown_refine(cu_sample, tiny_model):
    signal, _ = cu_sample
    with pytest.raises(TypeError, match="'dynamical'"):
        signal.get_orientation_map_transformer(tiny_model, refine="kinematic")


def test_dynamical_mapping_only_tilts_the_fit(cu_sample):
    """Through the signal method: the dynamical search moves each pixel's
    fitted rotation by at most the restarts' 10° and the grid's reach (4°
    about each of two axes), hardly about the beam (under 0.1°), and leaves
    the phases alone. (This sample is kinematic: the search is not meant
    for it, and moves it by 0.3-12°.)"""
    from pyxem_transformer import pretrained

    signal, _ = cu_sample
    model = pretrained("cu")
    maps = {
        refine: signal.get_orientation_map_transformer(
            model, refine=refine, show_progressbar=False
        )
        for refine in (True, "dynamical")
    }
    fit, dyn = (np.asarray(m.data) for m in maps.values())
    assert np.array_equal(fit[..., 0, 4], dyn[..., 0, 4])  # phases
    moved = ~Rotation(fit[..., 0, :4].reshape(-1, 4)) * Rotation(
        dyn[..., 0, :4].reshape(-1, 4)
    )
    assert np.all(np.rad2deg(moved.angle) < 10 + 4 * np.sqrt(2) + 0.5)
    assert np.rad2deg(moved.angle).max() > 0  # it did search
    assert np.allclose(moved.data[:, 3], 0, atol=1e-3)  # no turn about the beam


def _dynamical_arguments(peaks, lattice):
    settings = TokenSettings(n_tokens=32)
    tokens, mask = make_tokens(peaks, settings)
    return (
        torch.as_tensor(tokens),
        torch.as_tensor(mask),
        torch.as_tensor(lattice).float(),
        LAMBDA,
        beam_ratio(peaks, settings),
        (settings.direct_beam_radius, settings.max_radius),
        FIELD,
    )


def test_restarts_reach_tilts_the_search_cannot():
    """From starts 9° off, beyond the search's reach, the restarts bring
    some patterns within 2° (measured: 21% against none), and never end
    at a rotation that scores worse than the search's."""
    rotations, peaks, lattice = _two_beam_patterns(48, seed=13)
    start = torch.as_tensor(_tilted(rotations, 9.0, seed=14)).float()
    arguments = _dynamical_arguments(peaks, lattice)
    searched = search_tilt(start, *arguments)
    restarted = _search_dynamical(start, *arguments)
    assert (_errors(searched.double().numpy(), rotations) < 2).mean() == 0
    assert (_errors(restarted.double().numpy(), rotations) < 2).mean() > 0.1
    scores = score_rotations(torch.stack([searched, restarted], 1), *arguments)
    assert np.all(scores[:, 1] >= scores[:, 0] - 1e-9)


def test_score_rotations_charges_unexplained_peaks():
    """A rotation whose reflections miss the peaks scores far below the
    true one; a pattern without a beam scores -inf."""
    rotations, peaks, lattice = _two_beam_patterns(8, seed=15)
    arguments = list(_dynamical_arguments(peaks, lattice))
    turned = (
        rotations.to_matrix()
        @ Rotation.from_axes_angles([0, 0, 1], np.deg2rad(20)).to_matrix()
    )
    both = torch.as_tensor(np.stack([rotations.to_matrix(), turned], 1)).float()
    scores = score_rotations(both, *arguments)
    assert np.all(scores[:, 0] > scores[:, 1] + 3)
    arguments[4] = np.where(np.arange(8) == 0, np.nan, arguments[4])
    assert np.isneginf(score_rotations(both, *arguments)[0]).all()


def test_reflections_beyond_the_tokens_reach_are_not_scored():
    """Tokens reach ``max_radius`` only: a detector that reaches further
    changes nothing (reflections out there are no evidence), where scoring
    them as "not seen" would move the answers."""
    rotations, peaks, lattice = _two_beam_patterns(24, seed=3, reach=1.75)
    start = _tilted(rotations, 2.5, seed=4)
    settings = TokenSettings(n_tokens=32, max_radius=1.0)
    tokens, mask = make_tokens(peaks, settings)

    def search(reach, field):
        return search_tilt(
            torch.as_tensor(start),
            torch.as_tensor(tokens),
            torch.as_tensor(mask),
            torch.as_tensor(lattice),
            LAMBDA,
            beam_ratio(peaks, settings),
            (settings.direct_beam_radius, reach),
            (-field, field, -field, field),
        ).numpy()

    assert np.allclose(search(1.0, 1.75), search(1.0, 1.1), atol=1e-9)
    assert not np.allclose(search(10.0, 1.75), search(10.0, 1.1), atol=1e-3)


def test_a_beam_ratio_per_pattern_is_required():
    rotations, peaks, lattice = _two_beam_patterns(3, seed=15)
    settings = TokenSettings(n_tokens=32)
    tokens, mask = make_tokens(peaks, settings)
    with pytest.raises(ValueError, match="one ratio per pattern"):
        search_tilt(
            torch.as_tensor(rotations.to_matrix()),
            torch.as_tensor(tokens),
            torch.as_tensor(mask),
            torch.as_tensor(lattice),
            LAMBDA,
            beam_ratio(peaks, settings)[:2],
            (settings.direct_beam_radius, settings.max_radius),
            FIELD,
        )
