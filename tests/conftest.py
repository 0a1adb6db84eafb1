import logging
import warnings

import pytest

import pyxem_transformer  # noqa: F401  (attaches the signal method)

logging.getLogger("hyperspy").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", category=UserWarning, module="hyperspy")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep simulated training sets out of the user's cache during tests."""
    import os

    previous = os.environ.get("PYXEM_TRANSFORMER_CACHE")
    os.environ["PYXEM_TRANSFORMER_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        del os.environ["PYXEM_TRANSFORMER_CACHE"]
    else:
        os.environ["PYXEM_TRANSFORMER_CACHE"] = previous


@pytest.fixture(scope="session")
def cu_sample():
    """A noise-free 8x8 Cu grain map with its truth (shared, do not modify)."""
    from pyxem_transformer import data, phases

    return data.simulated_grains(phases.cu(), scan_shape=(8, 8), n_grains=6, seed=3)


@pytest.fixture(scope="session")
def tiny_model():
    """A barely trained two-phase model: for plumbing, not accuracy."""
    from pyxem_transformer import phases, train_model

    return train_model(
        [phases.cu(), phases.cu2o()],
        n_per_phase=400,
        epochs=1,
        batch_size=128,
        cache_dir=None,
        show_progressbar=False,
    )


@pytest.fixture(scope="session")
def chunked_sample(tiny_model):
    """A 5x6 two-phase scan and its eager result, for chunking tests."""
    from pyxem_transformer import data, phases

    s, _ = data.simulated_grains(
        [phases.cu(), phases.cu2o()], scan_shape=(5, 6), n_grains=3, seed=7
    )
    eager = s.get_orientation_map_transformer(
        tiny_model, show_progressbar=False, calibration_check=False
    )
    return s, eager
