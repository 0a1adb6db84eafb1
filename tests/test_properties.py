"""Property-based tests (hypothesis) of tokens, peak sets and result conversion."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pyxem_transformer import phases
from pyxem_transformer.mapping.result import orientation_map_from_arrays
from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.tokens.tokenize import TokenSettings, make_tokens

finite = st.floats(-3, 3, allow_nan=False, width=32)
peak = st.tuples(finite, finite, st.floats(0, 1e6, allow_nan=False, width=32))
peak_lists = st.lists(st.lists(peak, max_size=40), min_size=1, max_size=12)


def _peak_set(lists):
    return PeakSet.from_lists([np.array(p, np.float32).reshape(-1, 3) for p in lists])


@settings(max_examples=200, deadline=None)
@given(lists=peak_lists, n_tokens=st.integers(1, 48))
def test_tokens_of_any_peak_lists_are_finite_and_masked(lists, n_tokens):
    ts = TokenSettings(n_tokens=n_tokens)
    tokens, mask = make_tokens(_peak_set(lists), ts)
    assert tokens.shape == (len(lists), n_tokens, 4) and tokens.dtype == np.float32
    assert mask.shape == (len(lists), n_tokens) and mask.dtype == bool
    assert np.all(np.isfinite(tokens))
    assert np.all(tokens[~mask] == 0)
    kept = tokens[mask]
    assert np.all(kept[:, 3] >= 0) and np.all(kept[:, 3] <= 1)
    radius = np.hypot(kept[:, 0], kept[:, 1])
    assert np.all(radius >= ts.direct_beam_radius - 1e-5)
    assert np.all(radius <= ts.max_radius + 1e-5)
    np.testing.assert_allclose(kept[:, 2], radius, atol=1e-5)
    # Tokens fill from the front: a pattern's mask is a prefix.
    assert np.all(np.diff(mask.astype(int), axis=1) <= 0)


@settings(max_examples=100, deadline=None)
@given(lists=peak_lists, data=st.data())
def test_peak_set_take_and_concatenate_round_trip(lists, data):
    peaks = _peak_set(lists)
    order = data.draw(st.permutations(range(len(lists))))
    taken = peaks.take(np.array(order, dtype=np.int64))
    for new, old in enumerate(order):
        np.testing.assert_array_equal(taken.pattern(new), peaks.pattern(old))
    cut = data.draw(st.integers(0, len(lists)))
    joined = PeakSet.concatenate(
        [peaks.take(np.arange(cut)), peaks.take(np.arange(cut, len(lists)))]
    )
    np.testing.assert_array_equal(joined.offsets, peaks.offsets)
    np.testing.assert_array_equal(joined.kx, peaks.kx)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.sampled_from([(1, 1), (1, 5), (3, 4), (6,)]),
    n_best=st.integers(1, 2),
    data=st.data(),
)
def test_result_conversion_gives_unit_quaternions_and_valid_phases(shape, n_best, data):
    n = int(np.prod(shape))
    raw = data.draw(
        arrays(np.float64, (n, n_best, 4), elements=st.floats(-1, 1, width=32))
    )
    norm = np.linalg.norm(raw, axis=-1, keepdims=True)
    raw = np.where(norm > 1e-3, raw, [1.0, 0, 0, 0])
    quaternions = raw / np.linalg.norm(raw, axis=-1, keepdims=True)
    phase_index = data.draw(arrays(np.int64, (n, n_best), elements=st.integers(-1, 1)))
    confidence = data.draw(
        arrays(np.float32, (n, n_best), elements=st.floats(0, 1, width=32))
    )
    result = orientation_map_from_arrays(
        quaternions.reshape(*shape, n_best, 4),
        phase_index.reshape(*shape, n_best),
        confidence.reshape(*shape, n_best),
        [phases.cu(), phases.cu2o()],
    )
    xmap = result.to_crystal_map()
    assert xmap.size == n
    q = xmap.rotations.data.reshape(-1, 4)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1, atol=1e-5)
    assert set(np.unique(xmap.phase_id)) <= {-1, 0, 1}
    assert set(xmap.phases.ids) >= set(np.unique(xmap.phase_id))
    np.testing.assert_array_equal(xmap.phase_id, phase_index[:, 0])


@settings(max_examples=4, deadline=None)
@given(rows=st.integers(1, 5), columns=st.integers(1, 6))
def test_any_chunking_gives_the_eager_result(tiny_model, chunked_sample, rows, columns):
    s, eager = chunked_sample
    lazy = s.as_lazy()
    lazy.rechunk(nav_chunks=(columns, rows))
    result = lazy.get_orientation_map_transformer(
        tiny_model, show_progressbar=False, calibration_check=False
    )
    result.compute()
    # Batches of other sizes round float32 sums differently; nothing else moves.
    np.testing.assert_array_equal(result.data[..., 4:5], eager.data[..., 4:5])
    np.testing.assert_array_equal(result.data[..., 6], eager.data[..., 6])
    np.testing.assert_allclose(result.data, eager.data, rtol=0, atol=1e-4)
