import json
import math

import numpy as np
import pytest
import torch
from _same import ATOL, assert_same_quaternions
from orix.quaternion import Rotation

import pyxem_transformer as pxt
from pyxem_transformer import phases
from pyxem_transformer.mapping.predict import predict_tokens
from pyxem_transformer.model.network import (
    ModelConfig,
    OrientationTransformer,
    _key_padding,
    load_model,
)
from pyxem_transformer.model.rotations import (
    equivalence_operators,
    rotation_from_6d,
    symmetric_angle,
)
from pyxem_transformer.tokens.tokenize import TokenSettings

#: Settings of the tiny trainings of the training-loop tests.
TINY_TRAINING = dict(
    cache_dir=None,
    show_progressbar=False,
    model_config=ModelConfig(d_model=32, n_layers=1),
)


def _random_matrices(n, seed):
    r = pxt.data.random_rotations(n, np.random.default_rng(seed))
    return torch.as_tensor(r.to_matrix(), dtype=torch.float32)


def test_6d_representation_gives_proper_rotations():
    m = rotation_from_6d(torch.randn(100, 6))
    eye = torch.eye(3).expand(100, 3, 3)
    torch.testing.assert_close(m.transpose(1, 2) @ m, eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(m), torch.ones(100), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["cu", "ti"])
def test_loss_is_zero_for_every_equivalent_and_positive_otherwise(name):
    left, right = (
        torch.as_tensor(a) for a in equivalence_operators(phases.by_name(name))
    )
    truth = _random_matrices(8, 0)
    for s in left:
        for t in right:
            equivalent = s @ truth @ t
            angle = symmetric_angle(equivalent, truth, left, right)
            assert float(angle.max()) < 2e-3  # float32 arccos near 1
    other = truth @ torch.as_tensor(
        Rotation.from_axes_angles([1, 1, 0], math.radians(7)).to_matrix()[0],
        dtype=torch.float32,
    )
    angle = symmetric_angle(other, truth, left, right)
    assert torch.all(angle > math.radians(1))


def test_twin_counts_only_when_folded():
    left, right = (torch.as_tensor(a) for a in equivalence_operators(phases.ti()))
    truth = _random_matrices(16, 1)
    twin = truth @ right[1]
    strict = symmetric_angle(twin, truth, left, right[:1])
    folded = symmetric_angle(twin, truth, left, right)
    assert float(folded.max()) < 2e-3
    assert float(strict.min()) > math.radians(5)


def test_checkpoint_round_trip(tmp_path, tiny_model):
    path = tmp_path / "model.pt"
    tiny_model.save(path)
    loaded = load_model(path)
    assert [p.name for p in loaded.phases] == ["Cu", "Cu2O"]
    assert loaded.token_settings == tiny_model.token_settings
    assert loaded.config == tiny_model.config
    assert loaded.training_info["validation"] == tiny_model.training_info["validation"]
    tokens = torch.randn(5, loaded.token_settings.n_tokens, 4)
    mask = torch.ones(5, loaded.token_settings.n_tokens, dtype=torch.bool)
    with torch.no_grad():
        for a, b in zip(
            tiny_model.eval()(tokens, mask), loaded(tokens, mask), strict=True
        ):
            torch.testing.assert_close(a, b)
    assert not list(tmp_path.glob(".*tmp"))


def test_bad_checkpoints_raise_clear_errors(tmp_path, tiny_model):
    good = tmp_path / "good.pt"
    tiny_model.save(good)
    raw = good.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(raw[: len(raw) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01 definitely not a model")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}, "description": '{"format": "other"}'}, foreign)
    tampered = tmp_path / "tampered.pt"
    payload = torch.load(good, weights_only=True)
    payload["state_dict"]["phase_head.weight"] = torch.zeros(7, 7)
    torch.save(payload, tampered)
    for path in (truncated, garbage, foreign, tampered):
        with pytest.raises(ValueError, match=path.name):
            load_model(path)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")


def test_code_in_a_checkpoint_is_never_run(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"description": Evil()}, path)
    with pytest.raises(ValueError, match="not a readable"):
        load_model(path)


def test_failed_save_leaves_the_old_file_intact(tmp_path, tiny_model, monkeypatch):
    path = tmp_path / "model.pt"
    tiny_model.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        tiny_model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_training_records_figures_and_is_seeded():
    kwargs = dict(
        n_per_phase=300,
        epochs=1,
        batch_size=100,
        cache_dir=None,
        show_progressbar=False,
        model_config=ModelConfig(d_model=32, n_layers=1),
    )
    a = pxt.train_model(phases.al(), seed=5, **kwargs)
    b = pxt.train_model(phases.al(), seed=5, **kwargs)
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, b.state_dict()[key])
    info = a.training_info
    assert info["epochs_run"] == 1 and info["friedel_folded"] is True
    assert set(info["validation"]) >= {
        "median_misorientation",
        "fraction_under_2",
        "fraction_under_5",
        "phase_accuracy",
    }


def test_reported_figures_come_from_patterns_that_did_not_choose_the_epoch(
    monkeypatch,
):
    from pyxem_transformer.model import _trainer as train

    real, seen = train.validation_figures, []

    def spy(model, tokens, mask, truth, phase, **kw):
        seen.append((tokens.clone(), phase.clone()))
        return real(model, tokens, mask, truth, phase, **kw)

    monkeypatch.setattr(train, "validation_figures", spy)
    model = pxt.train_model(
        [phases.al(), phases.cu()],
        n_per_phase=150,
        epochs=2,
        batch_size=100,
        **TINY_TRAINING,
    )
    # The last calls are the reported half's figures per physics.
    seen = seen[: -len(model.training_info["validation_by_physics"])]
    *epochs, (chosen, chosen_phase), (reported, reported_phase) = seen
    assert len(epochs) == 2 and all(torch.equal(e, chosen) for e, _ in epochs)
    # Both halves hold both phases.
    assert set(chosen_phase.tolist()) == set(reported_phase.tolist()) == {0, 1}

    def rows(tokens):
        return {tuple(row.flatten().tolist()) for row in tokens}

    assert rows(chosen) and rows(reported)
    assert not rows(chosen) & rows(reported)
    info = model.training_info
    assert info["validation"]["n_patterns"] == reported.shape[0]
    assert len(info["history"]) == 2
    assert all(h["n_patterns"] == chosen.shape[0] for h in info["history"])


def test_interrupted_training_resumes_to_the_same_model(tmp_path, monkeypatch):
    from pyxem_transformer.model import _trainer as train

    spots = pxt.simulation.simulate_spots(phases.al(), 300, show_progressbar=False)
    kwargs = dict(
        epochs=3,
        batch_size=100,
        spots=spots,
        show_progressbar=False,
        model_config=ModelConfig(d_model=32, n_layers=1),
        seed=2,
    )
    straight = pxt.train_model(phases.al(), **kwargs)

    checkpoint = tmp_path / "run" / "state.pt"
    real = train.validation_figures
    calls = []

    def killed_in_epoch_two(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user's Ctrl-C, or a killed job
        return real(*args, **kw)

    monkeypatch.setattr(train, "validation_figures", killed_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        pxt.train_model(phases.al(), checkpoint=checkpoint, **kwargs)
    monkeypatch.setattr(train, "validation_figures", real)
    assert checkpoint.exists() and not list(checkpoint.parent.glob("*.partial"))

    resumed = pxt.train_model(phases.al(), checkpoint=checkpoint, **kwargs)
    assert resumed.training_info["epochs_run"] == 3
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(value, resumed.state_dict()[key])
    # A checkpoint of another run is refused, a damaged one named.
    with pytest.raises(ValueError, match="other phases or settings"):
        pxt.train_model(phases.al(), checkpoint=checkpoint, **{**kwargs, "seed": 3})
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable training checkpoint"):
        pxt.train_model(phases.al(), checkpoint=checkpoint, **kwargs)


def test_time_budget_stops_training():
    model = pxt.train_model(
        phases.al(),
        n_per_phase=200,
        epochs=5,
        max_minutes=0,
        **TINY_TRAINING,
    )
    assert model.training_info["stopped_by"] == "time budget"
    assert model.training_info["epochs_run"] == 1


def test_a_budget_shorter_than_the_epochs_still_anneals_the_learning_rate(
    monkeypatch,
):
    from types import SimpleNamespace

    from pyxem_transformer.model import _trainer as train

    # A clock that advances 0.01 s per reading: the 3 s budget then ends
    # after about 150 steps (of 1,000 for the 100 epochs), past the warm-up
    # (101 steps), whatever the machine's speed.
    now = iter(range(10**9))
    monkeypatch.setattr(
        train, "time", SimpleNamespace(perf_counter=lambda: next(now) * 0.01)
    )
    model = pxt.train_model(
        phases.al(),
        n_per_phase=200,
        batch_size=19,
        epochs=100,
        max_minutes=0.05,
        patience=100,
        **TINY_TRAINING,
    )
    info = model.training_info
    assert info["stopped_by"] == "time budget" and info["epochs_run"] < 100
    rates = [record["learning_rate"] for record in info["history"]]
    assert rates[-1] < 0.02 * max(rates)


def test_predictions_flag_patterns_with_too_few_tokens(tiny_model):
    n = tiny_model.token_settings.n_tokens
    tokens = np.random.default_rng(0).normal(size=(3, n, 4)).astype(np.float32)
    mask = np.zeros((3, n), bool)
    mask[0] = True
    mask[1, :2] = True
    p = predict_tokens(tiny_model, tokens, mask, n_best=2, device="cpu")
    assert p.too_few_tokens.tolist() == [False, True, True]
    assert p.confidence[1:, 0].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(np.linalg.norm(p.quaternions, axis=-1), 1, atol=1e-5)
    assert sorted(p.phase_index[0].tolist()) == [0, 1]
    with pytest.raises(ValueError, match="n_best"):
        predict_tokens(tiny_model, tokens, mask, n_best=3)
    with pytest.raises(ValueError, match="token_settings"):
        predict_tokens(tiny_model, tokens[:, :4], mask[:, :4])


FIELDS = ("quaternions", "phase_index", "confidence")


def test_padding_is_skipped_without_changing_predictions(tiny_model, monkeypatch):
    # predict_tokens reads each pattern at its own width (its token count
    # rounded up to WIDTH_STEP), not at the model's n_tokens: the answers must
    # be those at full width, and must not depend on the batch.
    from pyxem_transformer.mapping import predict

    rng = np.random.default_rng(3)
    n, n_tok = 60, tiny_model.token_settings.n_tokens
    counts = rng.integers(3, n_tok + 1, n)
    mask = np.arange(n_tok)[None] < counts[:, None]
    tokens = rng.normal(0, 0.5, (n, n_tok, 4)).astype(np.float32)
    tokens[..., 3] = np.abs(tokens[..., 3])
    tokens[~mask] = 0
    batches = predict._batches_by_width(mask.sum(1), n_tok, 1000)
    assert len({w for _, w in batches}) > 1
    trimmed = predict_tokens(tiny_model, tokens, mask, device="cpu")
    parts = [
        predict_tokens(tiny_model, tokens[a:b], mask[a:b], device="cpu", batch_size=7)
        for a, b in [(0, 23), (23, 60)]
    ]
    # The same answers to float rounding (tests/_same.py says why not bits).
    joined = {f: np.concatenate([getattr(p, f) for p in parts]) for f in FIELDS}
    assert_same_quaternions(joined["quaternions"], trimmed.quaternions)
    np.testing.assert_array_equal(joined["phase_index"], trimmed.phase_index)
    np.testing.assert_allclose(joined["confidence"], trimmed.confidence, atol=ATOL)
    monkeypatch.setattr(predict, "WIDTH_STEP", n_tok)
    full = predict_tokens(tiny_model, tokens, mask, device="cpu")
    np.testing.assert_array_equal(full.phase_index, trimmed.phase_index)
    np.testing.assert_allclose(full.confidence, trimmed.confidence, atol=1e-5)
    dot = np.sum(full.quaternions * trimmed.quaternions, -1, keepdims=True)
    np.testing.assert_allclose(
        full.quaternions, np.where(dot < 0, -1, 1) * trimmed.quaternions, atol=1e-4
    )


def test_training_batches_hold_every_pattern_once_with_similar_counts():
    from pyxem_transformer.model._training_data import _batches

    counts = np.random.default_rng(0).integers(1, 25, 1000)
    batches = _batches(counts, 32, np.random.default_rng(1))
    assert len(batches) == math.ceil(1000 / 32)
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(1000))
    # Sorted windows: a batch is padded to far less than the longest pattern.
    assert np.mean([counts[b].max() for b in batches]) < 0.7 * counts.max()
    again = _batches(counts, 32, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))


def test_presets():
    assert ModelConfig.preset("large").d_model > ModelConfig.preset("small").d_model
    with pytest.raises(ValueError, match="preset"):
        ModelConfig.preset("huge")
    model = OrientationTransformer([phases.cu()], TokenSettings(n_tokens=8))
    assert model.n_phases == 1


def test_outputs_do_not_depend_on_the_batch_a_pattern_is_in(tiny_model):
    # A scan's result must not depend on its chunking: every head, the
    # one-output confidence head included, gives the same output for a
    # pattern whatever batch (size, position) it is evaluated in, to float
    # rounding (tests/_same.py).
    rng = np.random.default_rng(0)
    n, n_tok = 300, tiny_model.token_settings.n_tokens
    tokens = torch.from_numpy(rng.normal(0, 0.5, (n, n_tok, 4)).astype(np.float32))
    mask = torch.from_numpy(rng.random((n, n_tok)) < 0.6)
    with torch.inference_mode():
        whole = tiny_model(tokens, mask)
        for start, stop in [(0, 7), (3, 40), (13, 300), (101, 230)]:
            part = tiny_model(tokens[start:stop], mask[start:stop])
            for a, b in zip(whole, part, strict=True):
                torch.testing.assert_close(a[start:stop], b, rtol=ATOL, atol=ATOL)


def test_canonical_frame_turns_with_the_pattern():
    # Turning every spot by +phi is the rotation R * Rz(phi) (the augmentation's
    # convention): a canonical-frame model must answer exactly that.
    from pyxem_transformer.tokens.augment import _rotate_about_z

    model = OrientationTransformer(
        [phases.cu()], TokenSettings(n_tokens=8), ModelConfig(canonical_frame=True)
    ).eval()
    rng = np.random.default_rng(3)
    tokens = rng.normal(0, 0.5, (5, 8, 4)).astype(np.float32)
    tokens[..., 3] = np.sort(rng.random((5, 8)), axis=1)[:, ::-1]  # strongest first
    mask = np.ones((5, 8), bool)
    phi = rng.uniform(0, 2 * np.pi, 5)
    c, s = np.cos(phi)[:, None], np.sin(phi)[:, None]
    turned = tokens.copy()
    turned[..., 0] = c * tokens[..., 0] - s * tokens[..., 1]
    turned[..., 1] = s * tokens[..., 0] + c * tokens[..., 1]
    turned[..., 2] = np.hypot(turned[..., 0], turned[..., 1])
    tokens[..., 2] = np.hypot(tokens[..., 0], tokens[..., 1])
    with torch.inference_mode():
        _, before, _ = model(torch.from_numpy(tokens), torch.from_numpy(mask))
        _, after, _ = model(torch.from_numpy(turned), torch.from_numpy(mask))
    q = Rotation.from_matrix(before[:, 0].numpy().astype(float)).data
    expected = Rotation(_rotate_about_z(q, phi)).to_matrix()
    np.testing.assert_allclose(after[:, 0].numpy(), expected, atol=2e-4)


def test_checkpoints_without_the_canonical_flag_load_as_trained(tmp_path, tiny_model):
    # Models saved before ModelConfig.canonical_frame existed read tokens in
    # the detector frame: loading must keep it that way.
    path = tmp_path / "old.pt"
    tiny_model.save(path)
    payload = torch.load(path, weights_only=True)
    description = json.loads(payload["description"])
    del description["model_config"]["canonical_frame"]
    payload["description"] = json.dumps(description)
    torch.save(payload, path)
    assert tiny_model.config.canonical_frame  # the default for new models
    assert not load_model(path).config.canonical_frame


@pytest.mark.parametrize("width", [None, 8])
def test_inference_encoder_matches_the_training_encoder(width):
    # Without gradients the encoder runs by hand with scaled_dot_product_attention
    # (faster); it must give what nn.TransformerEncoder gives, also where it
    # pads short key sequences with masked keys (width 8: 9 keys, padded).
    model = pxt.pretrained("cu").eval()
    rng = np.random.default_rng(1)
    n, n_tok = 200, width or model.token_settings.n_tokens
    padded = _key_padding(n_tok + 1, torch.device("cpu"))
    assert (padded > 0) == (width is not None)
    tokens = torch.from_numpy(rng.normal(0, 0.5, (n, n_tok, 4)).astype(np.float32))
    mask = torch.from_numpy(rng.random((n, n_tok)) < 0.6)
    mask[:, 0] = True
    trained = model(tokens, mask)  # gradients on: nn.TransformerEncoder
    with torch.inference_mode():
        inferred = model(tokens, mask)
    for a, b in zip(trained, inferred, strict=True):
        torch.testing.assert_close(a.detach(), b, rtol=1e-4, atol=1e-5)


def test_fine_tuning_starts_from_the_initial_model():
    kwargs = dict(n_per_phase=200, epochs=1, batch_size=100, **TINY_TRAINING)
    first = pxt.train_model(phases.al(), seed=1, **kwargs)
    # A fresh start at a vanishing learning rate keeps its own random weights;
    # a fine-tuning run keeps the initial model's.
    kwargs["learning_rate"] = 1e-12
    fresh = pxt.train_model(phases.al(), seed=2, **kwargs)
    del kwargs["model_config"]
    tuned = pxt.train_model(phases.al(), seed=2, initial_model=first, **kwargs)
    name, weight = next(iter(first.state_dict().items()))
    assert not torch.allclose(fresh.state_dict()[name], weight)
    for key, value in first.state_dict().items():
        torch.testing.assert_close(tuned.state_dict()[key], value, atol=1e-6, rtol=0)
    assert tuned.token_settings == first.token_settings
    assert tuned.training_info["initial_model"]["seed"] == 1
    with pytest.raises(ValueError, match="same phases"):
        pxt.train_model(phases.cu(), initial_model=first, **kwargs)
    with pytest.raises(ValueError, match="model_config"):
        pxt.train_model(
            phases.al(),
            initial_model=first,
            model_config=ModelConfig(d_model=16),
            **kwargs,
        )
