import hyperspy.api as hs
import numpy as np
import pytest
from pyxem.signals import Diffraction2D, ElectronDiffraction2D


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
    assert result.data.shape == (2, 3, 1, 7)
    assert np.all(result.data[..., 5:] == 0)


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
    ],
)
def test_bad_arguments_are_named(kwargs, match, tiny_model):
    with pytest.raises((ValueError, TypeError), match=match):
        _signal().get_orientation_map_transformer(tiny_model, **kwargs)
