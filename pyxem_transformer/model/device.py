"""The torch device a model trains or maps on."""

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return the torch device for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Parameters
    ----------
    device
        The requested device.

    Returns
    -------
    device
        CUDA for ``"auto"`` when available, else the CPU.

    Raises
    ------
    ValueError
        If CUDA is requested but not available.
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was asked for but torch sees no CUDA GPU; use "
            "device='cpu' or 'auto'."
        )
    return device
