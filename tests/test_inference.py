import hyperspy.api as hs
import numpy as np
import pytest
from _same import assert_same_table

from pyxem_transformer import data, metrics, phases
from pyxem_transformer.mapping.result import COLUMNS
from pyxem_transformer.signals import (
    LazyTransformerOrientationMap,
    TransformerOrientationMap,
)


@pytest.fixture(scope="module")
def two_phase_sample():
    return data.simulated_grains(
        [phases.cu(), phases.cu2o()], scan_shape=(12, 10), n_grains=6, seed=8
    )


def test_eager_and_lazy_results_agree(two_phase_sample, tiny_model):
    s, _ = two_phase_sample
    eager = s.get_orientation_map_transformer(tiny_model, n_best=2)
    lazy_signal = s.as_lazy()
    lazy_signal.rechunk(nav_chunks=(4, 5))  # many chunks
    lazy = lazy_signal.get_orientation_map_transformer(tiny_model, n_best=2)
    assert isinstance(eager, TransformerOrientationMap) and not eager._lazy
    assert isinstance(lazy, LazyTransformerOrientationMap)
    assert lazy.data.numblocks[:2] == (3, 2)
    lazy.compute()
    assert_same_table(eager.data, lazy.data)
    computed = lazy_signal.get_orientation_map_transformer(
        tiny_model, n_best=2, lazy_output=False
    )
    assert not computed._lazy
    assert_same_table(eager.data, computed.data)


def test_distributed_cluster_gives_the_same_results(two_phase_sample, tiny_model):
    distributed = pytest.importorskip("distributed")
    s, _ = two_phase_sample
    lazy_signal = s.as_lazy()
    lazy_signal.rechunk(nav_chunks=(6, 5))
    threaded = lazy_signal.get_orientation_map_transformer(tiny_model)
    threaded.compute()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        result = lazy_signal.get_orientation_map_transformer(tiny_model)
        result.compute()
    assert_same_table(threaded.data, result.data)


def test_result_has_phases_calibration_and_crystal_map(two_phase_sample, tiny_model):
    s, truth = two_phase_sample
    s = s.deepcopy()
    for axis in s.axes_manager.navigation_axes:
        axis.scale, axis.units = 2.5, "nm"
    result = s.get_orientation_map_transformer(tiny_model, n_best=2)
    assert result.phases.names == ["Cu", "Cu2O"]
    xmap = result.to_crystal_map()
    assert xmap.shape == truth.shape and xmap.scan_unit == "nm"
    assert xmap.dx == 2.5
    assert set(xmap.prop) >= {"confidence", "confidence_1", "n_tokens"}
    assert np.all(xmap.prop["n_tokens"] > 3)
    # Multi-phase with a single best answer works (pyxem 0.21 fails there).
    one = s.get_orientation_map_transformer(tiny_model, n_best=1).to_crystal_map()
    comparison = metrics.compare_crystal_maps(one, truth)
    assert comparison.misorientation.shape == truth.shape


def test_precomputed_vectors_and_pyxem_finder(two_phase_sample, tiny_model):
    s, _ = two_phase_sample
    kwargs = dict(method="local_max", threshold_abs=0.002, min_distance=3)
    vectors = s.get_diffraction_vectors(show_progressbar=False, **kwargs)
    from_vectors = s.get_orientation_map_transformer(tiny_model, vectors=vectors)
    via_pyxem = s.get_orientation_map_transformer(
        tiny_model, peak_kwargs={"finder": "pyxem", **kwargs}
    )
    assert_same_table(from_vectors.data, via_pyxem.data)
    # Only the map that read the signal's calibration records it.
    assert via_pyxem.metadata.has_item("Transformer.calibration")
    assert not from_vectors.metadata.has_item("Transformer.calibration")
    as_method = vectors.get_orientation_map_transformer(tiny_model)
    assert_same_table(as_method.data, from_vectors.data)
    assert as_method.to_crystal_map().shape == (12, 10)
    assert from_vectors.data.shape == (12, 10, 1, len(COLUMNS))
    with pytest.raises(ValueError, match="scan"):
        s.inav[:3, :3].get_orientation_map_transformer(tiny_model, vectors=vectors)


@pytest.mark.parametrize("extension", ["hspy", "zspy"])
def test_saved_result_round_trip(tmp_path, two_phase_sample, tiny_model, extension):
    s, _ = two_phase_sample
    result = s.get_orientation_map_transformer(tiny_model)
    path = tmp_path / f"map.{extension}"
    result.save(path)
    back = hs.load(path)
    assert isinstance(back, TransformerOrientationMap)
    np.testing.assert_array_equal(back.data, result.data)
    a, b = back.to_crystal_map(), result.to_crystal_map()
    np.testing.assert_array_equal(a.phase_id, b.phase_id)
    np.testing.assert_allclose(a.rotations.data, b.rotations.data)


def test_blank_and_nan_patterns_are_flagged_not_fatal(tiny_model):
    s, _ = data.simulated_grains(phases.cu(), scan_shape=(2, 3), n_grains=1)
    s.data[0, 0] = 0
    s.data[0, 1] = np.nan
    result = s.get_orientation_map_transformer(tiny_model)
    assert result.data[0, 0, 0, 5] == 0 and result.data[0, 0, 0, 6] == 0
    assert result.data[0, 1, 0, 5] == 0 and result.data[0, 1, 0, 6] == 0
    assert np.all(result.data[1, :, 0, 6] > 3)
    # Not indexed, as orix has it: phase -1, identity rotation, never a guess.
    xmap = result.to_crystal_map()
    assert list(xmap.phase_id.reshape(2, 3)[0, :2]) == [-1, -1]
    assert xmap.phases[-1].name == "not_indexed"
    np.testing.assert_array_equal(result.data[0, :2, 0, :4], [[1, 0, 0, 0]] * 2)
    # Indexed (the barely trained model's phase itself is not the point).
    assert np.all(xmap.phase_id.reshape(2, 3)[1] >= 0)
    phase_rgb = np.asarray(result.to_phase_map().data.tolist())
    assert np.all(phase_rgb[0, 0] == 0)  # black where not indexed


def test_orientation_map_api_like_pyxem(two_phase_sample, tiny_model):
    s, truth = two_phase_sample
    result = s.get_orientation_map_transformer(tiny_model, n_best=2)
    index = result.to_phase_index()
    assert index.shape == (12, 10, 2)
    phase_map = result.to_phase_map()
    assert phase_map.data.shape == (12, 10)
    first = np.array(phase_map.data[0, 0].tolist())
    expected = np.array(result.phases[int(index[0, 0, 0])].color_rgb) * 255
    np.testing.assert_allclose(first, expected.astype(np.uint8))
    ipf = result.to_ipf_colormap()
    assert ipf.data.shape == (12, 10)
    with pytest.raises(ValueError, match="Multiple phases"):
        result.to_single_phase_orientations()
    single = data.simulated_grains(phases.cu(), scan_shape=(3, 4), n_grains=2)[0]
    from pyxem_transformer import train_model

    cu_model = train_model(
        phases.cu(),
        n_per_phase=200,
        epochs=1,
        cache_dir=None,
        show_progressbar=False,
    )
    ori = single.get_orientation_map_transformer(
        cu_model
    ).to_single_phase_orientations()
    assert ori.shape == (3, 4, 1)
    assert ori.symmetry.name == "m-3m"


def test_markers_show_the_spots_of_the_mapped_orientation(tiny_model):
    import matplotlib

    matplotlib.use("Agg")
    from pyxem_transformer.mapping.markers import predicted_spots
    from pyxem_transformer.tokens.peaks import find_peaks_batched

    s, truth = data.simulated_grains(phases.cu(), scan_shape=(2, 2), n_grains=1)
    # Spots of the true orientation land on the peaks found in the image.
    spots = predicted_spots(
        truth.rotations.data, np.zeros(4, int), [phases.cu()], max_excitation_error=0.1
    )
    scale = (0.02, 0.02)
    offset = tuple(a.offset for a in s.axes_manager.signal_axes)
    found = find_peaks_batched(s.data.reshape(-1, 128, 128), scale, offset)
    xy = found.pattern(0)[:, :2]
    inside = np.abs(spots[0]).max(1) < 1.2
    distance = np.linalg.norm(spots[0][inside][:, None] - xy[None], axis=-1).min(1)
    assert np.median(distance) < 0.01
    result = s.get_orientation_map_transformer(tiny_model, show_progressbar=False)
    markers = result.to_markers()
    assert markers.kwargs["offsets"].shape == (2, 2)
    result.plot_over_signal(s)
    with pytest.raises(ValueError, match="scan"):
        result.plot_over_signal(s.inav[:1])


def test_detector_field_leaves_the_edges_out():
    from pyxem_transformer.mapping.inference import detector_field

    field = detector_field((0.02, 0.01), (-1.27, 0.5), (64, 128), margin=3)
    np.testing.assert_allclose(field, (-1.21, 1.21, 0.53, 1.10))
    # An axis that runs backwards spans the same interval.
    flipped = detector_field((-0.02, 0.01), (1.27, 0.5), (64, 128), margin=3)
    np.testing.assert_allclose(flipped, field)
