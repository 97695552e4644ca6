"""Training checkpoints in formats that cannot run code when loaded.

A checkpoint folder holds ``model.safetensors`` (the weights, :mod:`safetensors`), ``state.pt`` (the optimiser
state and torch's RNG state: tensors, numbers and strings only, read by ``torch.load`` with ``weights_only`` on)
and ``sampler.json`` (the negative sampler's NumPy RNG state). A pickle can run any code when it is loaded
(``torch.load`` with ``weights_only`` off would run a payload planted in a checkpoint folder that someone else
made); here a ``state.pt`` that holds anything but tensors and plain values is refused with one line.
"""
from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

from rag.core.atomic import atomic_write_text
from rag.core.errors import InputError

WEIGHTS, STATE, SAMPLER = "model.safetensors", "state.pt", "sampler.json"


def save_checkpoint(folder: Path, net: Any, optimizer: Any, sampler_state: dict) -> None:
    """Write the three files of a checkpoint into ``folder``."""
    import torch
    from safetensors.torch import save_model

    save_model(net, str(folder / WEIGHTS))
    torch.save({"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}, folder / STATE)
    atomic_write_text(folder / SAMPLER, json.dumps(sampler_state))


def load_checkpoint(folder: Path, net: Any, optimizer: Any, device: str = "cpu") -> dict:
    """Restore ``net``, ``optimizer`` and torch's RNG from ``folder``; returns the sampler's state.

    Raises :class:`InputError` (naming the file) for a file that holds pickled objects other than tensors and
    plain values, or that is damaged; nothing in it is run."""
    import torch
    from safetensors.torch import load_model

    state_file = folder / STATE
    try:
        saved = torch.load(state_file, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, TypeError) as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"a pickled Python object ({found.group(1)})" if found else f"unreadable data ({type(exc).__name__})"
        raise InputError(f"refused: holds {what}, not only tensors and plain values, and loading it could run "
                         f"code; delete {folder} to train from the start", path=state_file) from None
    if not isinstance(saved, dict) or "optimizer" not in saved or "torch_rng" not in saved:
        raise InputError(f"not a ragif training checkpoint (needs 'optimizer' and 'torch_rng'); delete {folder}",
                         path=state_file)
    try:
        if (folder / WEIGHTS).exists():
            missing, unexpected = load_model(net, str(folder / WEIGHTS), strict=True, device=str(device))
        elif "model" in saved:   # a checkpoint of ragif 0.1 (every part in state.pt)
            net.load_state_dict(saved["model"])
        else:
            raise InputError("the checkpoint has no model weights", path=folder / WEIGHTS)
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["torch_rng"])
    except InputError:
        raise
    except Exception as exc:   # shapes or keys of another model, a damaged safetensors file
        raise InputError(f"the checkpoint does not fit this model ({type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[0][:160]}); delete {folder}", path=folder) from None
    if (folder / SAMPLER).exists():
        from rag.datasets.io import read_json
        return read_json(folder / SAMPLER)
    if isinstance(saved.get("sampler"), dict):
        return saved["sampler"]
    raise InputError("the checkpoint has no sampler state", path=folder / SAMPLER)
