"""The transformer over Bragg-disk tokens, and its checkpoint format.

Architecture (sizes in :class:`ModelConfig`): each pattern is first turned
about the beam so that its strongest token lies along +kx (the canonical
frame; the predicted rotation is turned back, so the network never has to
learn the in-plane angle), each token (kx, ky, ``|g|``, intensity) is
embedded with random Fourier features of its position (fine angular
resolution from coarse inputs), a learned class token is prepended,
a transformer encoder without positional encoding reads the set (a pattern
is a set of spots; padding is masked), and three heads read the class token:
phase logits, a 6-D orientation per phase (see
:mod:`pyxem_transformer.model.rotations`), and a confidence logit trained to give
the probability that the orientation is within 5 degrees.
"""

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from orix.crystal_map import Phase, PhaseList
from torch import nn

from pyxem_transformer._version import __version__
from pyxem_transformer.crystal.phase_io import phase_from_dict, phase_to_dict
from pyxem_transformer.model.rotations import equivalence_operators, rotation_from_6d
from pyxem_transformer.tokens.tokenize import FEATURES, TokenSettings

__all__ = ["ModelConfig", "OrientationTransformer", "load_model"]

_FORMAT = "pyxem-transformer-checkpoint"
_FORMAT_VERSION = 1

#: On the CPU, ``scaled_dot_product_attention`` reads 16 keys up to four
#: times faster than fewer (this machine's torch 2.13 wheel, 1024 patterns x
#: 4 heads of 16: 15 keys 7.7 ms, 16 keys 1.7 ms). Inference pads shorter
#: key sequences (class token and tokens) with masked keys to this length,
#: which gives the same result: the cu model's encoder on 1024 patterns of
#: 12 tokens took 39 ms instead of 59, and the benchmark's cu-3000 case ran
#: 11% faster end to end (hand-run checks). Longer sequences gained
#: nothing consistent from padding to a multiple of 16.
KEY_BLOCK = 16


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the network.

    Attributes
    ----------
    d_model
        Width of the token embeddings.
    n_layers
        Encoder layers.
    n_heads
        Attention heads.
    d_feedforward
        Width of the feed-forward layers.
    n_frequencies
        Random Fourier frequencies of the position embedding.
    frequency_scale
        Standard deviation of the frequencies, in Å (cycles per 1/Å).
    canonical_frame
        Turn each pattern so its strongest token lies along +kx before the
        encoder reads it, and turn the predicted rotation back. The
        network then never has to learn the in-plane (about the beam)
        rotation, which the strongest spot fixes; near-equal strongest spots
        (Friedel mates, symmetry equivalents) give frames that differ by a
        twin or a symmetry operation, both folded into the loss.
    """

    d_model: int = 64
    n_layers: int = 4
    n_heads: int = 4
    d_feedforward: int = 128
    n_frequencies: int = 32
    frequency_scale: float = 6.0
    canonical_frame: bool = True

    @classmethod
    def preset(cls, name: str) -> "ModelConfig":
        """Return ``"small"`` (CPU, the default) or ``"large"`` (GPU) sizes."""
        presets = {
            "small": cls(),
            "large": cls(d_model=256, n_layers=6, n_heads=8, d_feedforward=768),
        }
        if name not in presets:
            raise ValueError(f"Unknown preset {name!r}; choose from {list(presets)}.")
        return presets[name]


class OrientationTransformer(nn.Module):
    """Predicts phase, orientation and confidence from a set of tokens.

    Parameters
    ----------
    phases
        The phases the model distinguishes (index order is the output order).
    token_settings
        How peaks become tokens; inference must use the same.
    config
        Network sizes.
    training_info
        Free-form record of the training (settings, validation figures).
    """

    def __init__(
        self,
        phases: list[Phase] | PhaseList,
        token_settings: TokenSettings = TokenSettings(),
        config: ModelConfig = ModelConfig(),
        training_info: dict | None = None,
    ) -> None:
        super().__init__()
        if isinstance(phases, PhaseList):
            phases = [phases[i] for i in phases.ids]
        self.phases = list(phases)
        self.token_settings = token_settings
        self.config = config
        self.training_info = dict(training_info or {})
        n_phases = len(self.phases)
        generator = torch.Generator().manual_seed(0)
        self.register_buffer(
            "frequencies",
            torch.randn(2, config.n_frequencies, generator=generator)
            * config.frequency_scale,
        )
        n_in = len(FEATURES) + 2 * config.n_frequencies
        self.embed = nn.Sequential(
            nn.Linear(n_in, config.d_model),
            nn.GELU(),
            nn.Linear(config.d_model, config.d_model),
        )
        self.class_token = nn.Parameter(torch.zeros(1, 1, config.d_model))
        layer = nn.TransformerEncoderLayer(
            config.d_model,
            config.n_heads,
            config.d_feedforward,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, config.n_layers, enable_nested_tensor=False
        )
        self.norm = nn.LayerNorm(config.d_model)
        self.phase_head = nn.Linear(config.d_model, n_phases)
        self.orientation_head = nn.Linear(config.d_model, 6 * n_phases)
        self.confidence_head = nn.Linear(config.d_model, 1)
        left = [equivalence_operators(p)[0] for p in self.phases]
        n_sym = max(len(m) for m in left)
        padded = np.stack(
            [np.concatenate([m, np.repeat(m[:1], n_sym - len(m), 0)]) for m in left]
        )
        self.register_buffer("symmetry", torch.as_tensor(padded))
        self.register_buffer(
            "twin", torch.as_tensor(equivalence_operators(self.phases[0])[1])
        )

    @property
    def n_phases(self) -> int:
        """Number of phases."""
        return len(self.phases)

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the network.

        Parameters
        ----------
        tokens
            ``(B, N, 4)`` token features.
        mask
            ``(B, N)`` True where a token holds a peak.

        Returns
        -------
        phase_logits
            ``(B, n_phases)``.
        matrices
            ``(B, n_phases, 3, 3)`` one rotation per phase.
        confidence_logit
            ``(B,)``.
        """
        if self.config.canonical_frame:
            # make_tokens puts the strongest peak first.
            # In float64, cast back: float32 trigonometry can round a pattern
            # differently depending on its place in the batch.
            phi = torch.atan2(tokens[:, 0, 1].double(), tokens[:, 0, 0].double())
            turned = _turn(tokens[..., :2].double(), -phi).to(tokens.dtype)
            tokens = torch.cat([turned, tokens[..., 2:]], -1)
        xy = tokens[..., :2]
        angles = 2 * math.pi * xy @ self.frequencies
        features = torch.cat([tokens, torch.sin(angles), torch.cos(angles)], dim=-1)
        x = self.embed(features)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        keep = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        if torch.is_grad_enabled():
            x = self.encoder(x, src_key_padding_mask=~keep)
        else:
            x = _encode_for_inference(self.encoder, x, keep)
        summary = self.norm(x[:, 0])
        matrices = rotation_from_6d(
            _head(self.orientation_head, summary).view(-1, self.n_phases, 6)
        )
        if self.config.canonical_frame:
            # Spots turned by -phi belong to R * Rz(-phi): undo it.
            turn = _z_rotation(phi)[:, None]
            matrices = (matrices.double() @ turn).to(matrices.dtype)
        return (
            _head(self.phase_head, summary),
            matrices,
            _head(self.confidence_head, summary).squeeze(-1),
        )

    # -- checkpoints -------------------------------------------------------
    def describe(self) -> dict:
        """Everything inference needs besides the weights, as plain data.

        Returns
        -------
        description
            Phases, token settings, model configuration, training record and
            package version, as JSON-ready data.
        """
        return {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "package_version": __version__,
            "phases": [phase_to_dict(p) for p in self.phases],
            "token_settings": self.token_settings.as_dict(),
            "model_config": asdict(self.config),
            "calibration_units": "1/Å (signal axes of a pyxem Diffraction2D)",
            "training": self.training_info,
        }

    def save(self, path: str | Path) -> None:
        """Save weights and description atomically (write, then rename).

        The file holds only tensors and a JSON string, so
        :func:`load_model` reads it with ``torch.load(weights_only=True)``.

        Parameters
        ----------
        path
            File to write (conventionally ``.pt``).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "description": json.dumps(self.describe()),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
        }
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            torch.save(payload, tmp)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()


def _encode_for_inference(
    encoder: nn.TransformerEncoder, x: torch.Tensor, keep: torch.Tensor
) -> torch.Tensor:
    """The encoder's forward pass (pre-norm layers, GELU, no dropout) by hand.

    The same arithmetic as ``encoder(x, src_key_padding_mask=~keep)``, with
    attention by ``scaled_dot_product_attention``: on the CPU about 7% faster
    than the encoder's own inference path, whose masked softmax and packed
    projections cost more than the matrix products at these sizes (hand-run
    check, 1024 Cu patterns of 16 tokens), and with the keys padded on the
    CPU (``KEY_BLOCK``). ``tests/test_model.py`` holds
    the two to the same output.
    """
    batch, length, width = x.shape
    pad = _key_padding(length, x.device)
    allowed = nn.functional.pad(keep, (0, pad))[:, None, None, :]
    for layer in encoder.layers:
        attention = layer.self_attn
        heads = attention.num_heads
        qkv = nn.functional.linear(
            layer.norm1(x), attention.in_proj_weight, attention.in_proj_bias
        )
        q, k, v = qkv.view(batch, length, 3, heads, width // heads).permute(
            2, 0, 3, 1, 4
        )
        if pad:
            k, v = (nn.functional.pad(a, (0, 0, 0, pad)) for a in (k, v))
        mixed = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        mixed = mixed.transpose(1, 2).reshape(batch, length, width)
        x = x + attention.out_proj(mixed)
        x = x + layer.linear2(nn.functional.gelu(layer.linear1(layer.norm2(x))))
    return x if encoder.norm is None else encoder.norm(x)


def _key_padding(length: int, device: torch.device) -> int:
    """Masked keys to add so that a short CPU attention reads ``KEY_BLOCK``."""
    return KEY_BLOCK - length if device.type == "cpu" and length < KEY_BLOCK else 0


def _turn(xy: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """Turn detector-frame points ``(B, N, 2)`` by ``phi`` ``(B,)`` radians."""
    c, s = torch.cos(phi)[:, None], torch.sin(phi)[:, None]
    x, y = xy[..., 0], xy[..., 1]
    return torch.stack([c * x - s * y, s * x + c * y], -1)


def _z_rotation(phi: torch.Tensor) -> torch.Tensor:
    """Matrices ``(B, 3, 3)`` of ``Rz(phi)`` in orix's ``to_matrix`` convention."""
    c, s = torch.cos(phi), torch.sin(phi)
    zero, one = torch.zeros_like(phi), torch.ones_like(phi)
    rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def _head(layer: nn.Linear, summary: torch.Tensor) -> torch.Tensor:
    """Apply an output head in float64, cast back to the summary's dtype.

    A float32 product with few outputs (a matrix-vector product for the
    confidence) rounds differently depending on how many patterns share the
    batch, so a pattern's result would depend on the chunking of the scan.
    In float64 those differences vanish when cast back.
    """
    with torch.autocast(summary.device.type, enabled=False):
        out = nn.functional.linear(
            summary.double(), layer.weight.double(), layer.bias.double()
        )
    return out.to(summary.dtype)


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> OrientationTransformer:
    """Load a model saved with :meth:`OrientationTransformer.save`.

    Never executes code from the file (``weights_only=True``).

    Parameters
    ----------
    path
        Checkpoint file.
    map_location
        Device for the weights.

    Returns
    -------
    model
        The model in evaluation mode.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is truncated, corrupt, or not a pyxem-transformer
        checkpoint; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No model file at {path}.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for damaged files
        raise ValueError(
            f"{path} is not a readable pyxem-transformer model (truncated, corrupt "
            f"or not a torch file: {type(error).__name__}: {error}). Re-download "
            "or re-train it."
        ) from error
    try:
        description = json.loads(payload["description"])
        if description.get("format") != _FORMAT:
            raise ValueError("missing format marker")
        if description.get("format_version") != _FORMAT_VERSION:
            raise ValueError(
                f"format version {description.get('format_version')} is not "
                f"{_FORMAT_VERSION}; upgrade pyxem-transformer"
            )
        phases = [phase_from_dict(d) for d in description["phases"]]
        model = OrientationTransformer(
            phases,
            TokenSettings(**description["token_settings"]),
            # Files written before the canonical frame existed were trained
            # without it.
            ModelConfig(**{"canonical_frame": False, **description["model_config"]}),
            description.get("training", {}),
        )
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"{path} is not a valid pyxem-transformer model ({error})."
        ) from error
    model.to(map_location)
    return model.eval()
