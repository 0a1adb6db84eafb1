"""Each pattern's tokens are measured from its own direct beam."""

import numpy as np
import pytest

import pyxem_transformer as pxt
from pyxem_transformer.evaluation.measured import Artefacts, realistic_grains
from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.tokens.origin import SOURCES, locate_beams, recentre
from pyxem_transformer.tokens.peaks import find_peaks_batched

CAL = 0.02


def _peaks(signal) -> PeakSet:
    images = signal.data.reshape(-1, *signal.data.shape[-2:])
    axes = signal.axes_manager.signal_axes
    return find_peaks_batched(
        images, tuple(a.scale for a in axes), tuple(a.offset for a in axes)
    )


def test_beams_are_found_sub_pixel_under_descan_and_background():
    # Seed and sizes of this test only: not the benchmark's or training's.
    s, _ = realistic_grains(
        [pxt.phases.cu()], (6, 6), Artefacts(), dose=3000, n_grains=3, seed=11
    )
    beams = locate_beams(_peaks(s), search_radius=0.24, scan_shape=(6, 6))
    truth = s.metadata.Simulation.beam_position.reshape(-1, 2)
    error_px = np.hypot(*(beams.xy - truth).T) / CAL
    assert beams.fraction("beam") == 1.0
    assert np.median(error_px) < 0.25 and error_px.max() < 0.6
    # Measured from the stored centre, the shift reaches several pixels.
    assert np.hypot(*truth.T).max() / CAL > 2.5


def test_a_blocked_beam_falls_back_to_friedel_pairs_then_the_descan_fit():
    s, _ = realistic_grains(
        [pxt.phases.cu()],
        (4, 4),
        Artefacts(background=0, ring=0, position_error_px=0.1),
        dose=None,
        n_grains=2,
        seed=12,
    )
    peaks = _peaks(s)
    truth = s.metadata.Simulation.beam_position.reshape(-1, 2)
    # A beam stop: drop every peak near each pattern's true beam.
    owner = peaks.pattern_index
    near = np.hypot(peaks.kx - truth[owner, 0], peaks.ky - truth[owner, 1]) < 0.1
    blocked = PeakSet.from_lists(
        [
            np.stack([peaks.kx, peaks.ky, peaks.intensity], 1)[(owner == i) & ~near[:]]
            for i in range(peaks.n_patterns)
        ]
    )
    beams = locate_beams(blocked, search_radius=0.24, scan_shape=(4, 4))
    friedel = beams.source == SOURCES.index("friedel")
    assert friedel.mean() > 0.5
    assert np.median(np.hypot(*(beams.xy - truth)[friedel].T)) / CAL < 1.0
    # Patterns with no usable peaks at all take the plane through the others.
    empty = PeakSet.from_lists(
        [np.zeros((0, 3)) if i == 5 else blocked.pattern(i) for i in range(16)]
    )
    again = locate_beams(empty, search_radius=0.24, scan_shape=(4, 4))
    assert again.source[5] == SOURCES.index("descan fit")
    assert np.hypot(*(again.xy[5] - truth[5])) / CAL < 1.5


def test_recentre_measures_every_peak_from_its_beam():
    peaks = PeakSet.from_lists(
        [np.array([[0.1, 0.0, 9.0], [0.6, 0.0, 1.0]]), np.array([[0.0, 0.0, 5.0]])]
    )
    moved = recentre(peaks, np.array([[0.1, 0.0], [-0.05, 0.02]]))
    np.testing.assert_allclose(moved.kx, [0.0, 0.5, 0.05], atol=1e-6)
    np.testing.assert_allclose(moved.ky, [0.0, 0.0, -0.02], atol=1e-6)


@pytest.fixture(scope="module")
def twin_scans():
    """A 2x2 scan on a diffuse background with its beam 4 px off the stored
    centre, and its centred twin (the same patterns, right centre)."""
    clean = Artefacts(
        descan_px=0, descan_jitter_px=0, ellipticity=0, position_error_px=0
    )
    centred, truth = realistic_grains(
        [pxt.phases.cu()], (2, 2), clean, dose=None, n_grains=4, seed=13
    )
    off = centred.deepcopy()
    for axis in off.axes_manager.signal_axes:
        axis.offset -= 4 * axis.scale  # the beam now sits at k = -4 px
    return centred, off, truth


def _errors(signal, truth, **kwargs) -> np.ndarray:
    om = signal.get_orientation_map_transformer(
        pxt.pretrained("cu"), show_progressbar=False, **kwargs
    )
    return pxt.metrics.compare_crystal_maps(om.to_crystal_map(), truth).misorientation


def test_a_scan_with_its_beam_off_centre_maps_as_well_as_its_centred_twin(
    twin_scans,
):
    centred, off, truth = twin_scans
    reference = _errors(centred, truth)
    shifted = _errors(off, truth)
    assert np.all(np.isfinite(shifted))
    assert np.all(shifted <= reference + 0.5), (shifted, reference)


def test_the_beam_columns_report_where_the_beam_was(twin_scans):
    _, off, _ = twin_scans
    om = off.get_orientation_map_transformer(
        pxt.pretrained("cu"), show_progressbar=False
    )
    xmap = om.to_crystal_map()
    np.testing.assert_allclose(xmap.prop["beam_kx"], -4 * CAL, atol=0.3 * CAL)
    np.testing.assert_allclose(xmap.prop["beam_ky"], -4 * CAL, atol=0.3 * CAL)
    image = om.to_column_map("beam_kx")
    assert image.data.shape == (2, 2)
    with pytest.raises(ValueError, match="No column"):
        om.to_column_map("nonsense")
