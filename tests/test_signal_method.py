import hyperspy.api as hs
import numpy as np
import pytest
from pyxem.signals import Diffraction2D, ElectronDiffraction2D

from pyxem_transformer.mapping.result import COLUMNS


def _signal(nav=(2, 3), units=r"$\AA^{-1}$", scale=0.02):
    s = Diffraction2D(np.zeros((*nav, 64, 64), dtype=np.float32))
    for axis in s.axes_manager.signal_axes:
        axis.units, axis.scale, axis.offset = units, scale, -31.5 * scale
    return s


def test_a_model_is_required():
    with pytest.raises(TypeError, match="pyxem-transformer model"):
        _signal().get_orientation_map_transformer(model=None)


@pytest.mark.parametrize("units", ["nm^-1", "A^-1", "k_A^-1", "1/Å"])
def test_reciprocal_unit_spellings_are_accepted(units, tiny_model):
    scale = 0.2 if units == "nm^-1" else 0.02  # 0.02 1/Å per pixel
    result = _signal(units=units, scale=scale).get_orientation_map_transformer(
        tiny_model, show_progressbar=False
    )
    # Blank patterns: no peaks, so no tokens and no confidence.
    assert result.data.shape == (2, 3, 1, len(COLUMNS))
    assert np.all(result.data[..., 5:8] == 0)  # confidence, tokens, explained
    assert np.all(np.isnan(result.data[..., 8]))  # no fit residual


def test_lazy_and_electron_diffraction_signals_have_the_method(tiny_model):
    s = _signal(nav=(3,)).as_lazy()
    result = s.get_orientation_map_transformer(tiny_model, show_progressbar=False)
    assert result._lazy
    e = ElectronDiffraction2D(np.zeros((2, 8, 8)))
    assert callable(e.get_orientation_map_transformer)


@pytest.mark.parametrize(
    ("units", "scale", "match"),
    [
        ("px", 1.0, "units 'px'"),
        ("mrad", 0.5, "units 'mrad'"),
        (r"$\AA^{-1}$", 0.0, "positive"),
    ],
)
def test_uncalibrated_signal_is_refused_with_the_fix(units, scale, match, tiny_model):
    with pytest.raises(ValueError, match=match) as info:
        _signal(units=units, scale=scale).get_orientation_map_transformer(tiny_model)
    assert "1/Å" in str(info.value)


def test_wrong_dimensions_are_refused():
    single = _signal(nav=(1,)).inav[0]
    with pytest.raises(ValueError, match="navigation dimension 0"):
        single.get_orientation_map_transformer(None)
    deep = _signal(nav=(2, 2, 2))
    with pytest.raises(ValueError, match="navigation dimension 3"):
        deep.get_orientation_map_transformer(None)
    line = hs.signals.Signal1D(np.zeros((2, 16)))
    line.axes_manager.signal_axes[0].units = "A^-1"
    with pytest.raises(ValueError, match="signal dimension 1"):
        Diffraction2D.get_orientation_map_transformer(line, None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_best": 0}, "n_best"),
        ({"n_best": 3}, "n_best"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"device": "tpu"}, "device"),
        ({"peak_kwargs": 3}, "peak_kwargs"),
        ({"peak_kwargs": {"threshold": 1}}, "Unknown option"),
        ({"peak_kwargs": {"finder": "magic"}}, "finder"),
        ({"refine": "False"}, "refine"),
    ],
)
def test_bad_arguments_are_named(kwargs, match, tiny_model):
    with pytest.raises((ValueError, TypeError), match=match):
        _signal().get_orientation_map_transformer(tiny_model, **kwargs)


def test_refine_false_returns_the_network_answer(tiny_model):
    from pyxem_transformer import data, phases
    from pyxem_transformer._validation import reciprocal_calibration
    from pyxem_transformer.mapping.predict import predict_tokens
    from pyxem_transformer.tokens.peaks import find_peaks_batched
    from pyxem_transformer.tokens.tokenize import make_tokens

    s, _ = data.simulated_grains(
        [phases.cu(), phases.cu2o()], scan_shape=(4, 4), n_grains=3, seed=11
    )
    options = dict(show_progressbar=False, calibration_check=False)
    fast = s.get_orientation_map_transformer(tiny_model, refine=False, **options)
    fitted = s.get_orientation_map_transformer(tiny_model, **options)
    scale, offset = reciprocal_calibration(s)
    images = s.data.reshape(-1, *s.data.shape[-2:])
    peaks = find_peaks_batched(images, tuple(scale), tuple(offset))
    tokens, mask = make_tokens(peaks, tiny_model.token_settings)
    raw = predict_tokens(tiny_model, tokens, mask, refine=False, device="cpu")
    quaternions = fast.data[..., 0, :4].reshape(-1, 4)
    np.testing.assert_allclose(quaternions, raw.quaternions[:, 0], atol=1e-6)
    assert not np.allclose(fitted.data[..., 0, :4].reshape(-1, 4), quaternions)
