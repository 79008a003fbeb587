"""Device and mixed-precision policy, chosen once (the nanoGPT idiom).

* CUDA: autocast to bf16 where the GPU supports it, else fp16 (with a GradScaler when training).
* CPU: fp32. bf16 autocast on these CPUs ran this encoder about 60× slower than fp32
  (benchmarks/MODELS.md).

``auto`` applies that rule; ``fp32``, ``bf16`` and ``fp16`` force a choice (bf16 on the CPU works,
slowly, and is what the tests use to compare precisions).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch

from ..config import Precision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrecisionPolicy:
    """What to run in: device, autocast dtype (None: plain fp32) and whether to scale gradients."""

    device: torch.device
    autocast_dtype: torch.dtype | None
    use_grad_scaler: bool

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context manager for forward passes (a no-op for fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler that is enabled only for fp16."""
        return torch.amp.GradScaler(self.device.type, enabled=self.use_grad_scaler)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto``/None → ``cuda:0`` when CUDA is available, else ``cpu``; ``cuda`` without CUDA falls back to CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        log.warning("CUDA requested but not available; running on the CPU in fp32")
        return torch.device("cpu")
    return resolved


def resolve_precision(precision: Precision = "auto", device: str | torch.device | None = "auto") -> PrecisionPolicy:
    """The precision policy for ``precision`` on ``device`` (see the module docstring)."""
    resolved = resolve_device(device)
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, not {precision!r}")
    if precision == "fp32" or (precision == "auto" and resolved.type != "cuda"):
        return PrecisionPolicy(resolved, None, False)
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "bf16":
        if resolved.type == "cuda" and not torch.cuda.is_bf16_supported():
            log.warning("this GPU has no bf16; using fp16 with a grad scaler")
            return PrecisionPolicy(resolved, torch.float16, True)
        return PrecisionPolicy(resolved, torch.bfloat16, False)
    return PrecisionPolicy(resolved, torch.float16, resolved.type == "cuda")
