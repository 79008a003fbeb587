"""Pickle-free training checkpoints: tensors in safetensors, everything else in JSON.

Optimizer and module state dicts are flattened to ``<prefix>.<path>`` tensor keys; the rest
(epoch, best loss, learning-rate scheduler counters, parameter groups) goes to a JSON sidecar.
Writes are atomic (temporary names, then rename), so an interrupted run leaves the previous
checkpoint intact for ``--resume``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch


def _flatten(prefix: str, value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Move tensors out of a nested structure; return the JSON-able remainder with placeholders."""
    if isinstance(value, torch.Tensor):
        key = prefix
        tensors[key] = value.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(value, dict):
        return {"__dict__": [[_key(k), _flatten(f"{prefix}.{k}", v, tensors)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_flatten(f"{prefix}.{i}", v, tensors) for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    return value


def _key(key: Any) -> Any:
    return {"__int__": key} if isinstance(key, int) else key


def _unflatten(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__float__" in value:
            return float(value["__float__"])
        if "__dict__" in value:
            return {
                (k["__int__"] if isinstance(k, dict) else k): _unflatten(v, tensors) for k, v in value["__dict__"]
            }
    if isinstance(value, list):
        return [_unflatten(v, tensors) for v in value]
    return value


def save_checkpoint(path: str | Path, states: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write ``states`` (state dicts of modules, optimizers, schedulers) and ``meta`` (JSON) to ``path``.

    Creates ``path.safetensors`` and ``path.json``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    structure = {name: _flatten(name, state, tensors) for name, state in states.items()}
    tmp_tensors = path.with_suffix(".safetensors.tmp")
    tmp_json = path.with_suffix(".json.tmp")
    save_file(tensors, str(tmp_tensors))
    tmp_json.write_text(json.dumps({"structure": structure, "meta": meta}))
    os.replace(tmp_tensors, path.with_suffix(".safetensors"))
    os.replace(tmp_json, path.with_suffix(".json"))


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(states, meta) of a checkpoint written by :func:`save_checkpoint`, or None if there is none."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.with_suffix(".json").is_file() or not path.with_suffix(".safetensors").is_file():
        return None
    document = json.loads(path.with_suffix(".json").read_text())
    tensors = load_file(str(path.with_suffix(".safetensors")))
    states = {name: _unflatten(value, tensors) for name, value in document["structure"].items()}
    return states, document["meta"]
