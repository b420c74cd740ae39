"""What this machine computes fast: an accelerator on the Keras backend, bfloat16 on the CPU.

bfloat16 pays only where the hardware computes it: GPUs and TPUs, and CPUs with AMX
(``amx_bf16``). Elsewhere the CPU emulates it, and ``benchmarks/mixed_precision_cpu.py``
measured training 8 times slower than float32 on an AVX2 CPU (benchmarks/README.md).
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["accelerator", "amx_cpu", "cpu_flags", "native_bfloat16", "resolve_mixed_precision"]

CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``); empty where that file is missing."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, ARM
            return frozenset(value.split())
    return frozenset()


def amx_cpu(cpuinfo: Path = CPUINFO) -> bool:
    """True on a CPU whose AMX tiles compute bfloat16 (Intel Sapphire Rapids and later)."""
    return "amx_bf16" in cpu_flags(cpuinfo)


@functools.cache
def accelerator() -> bool:
    """True when the Keras backend computes on a GPU or TPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return any(tf.config.list_physical_devices(kind) for kind in ("GPU", "TPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available())
    return False


def native_bfloat16(cpuinfo: Path = CPUINFO) -> bool:
    """True where training computes bfloat16 in hardware: an accelerator or an AMX CPU."""
    return accelerator() or amx_cpu(cpuinfo)


def resolve_mixed_precision(mixed_precision: str | None, cpuinfo: Path = CPUINFO) -> str | None:
    """``"auto"``: ``"bfloat16"`` where :func:`native_bfloat16`, else ``None`` (float32);
    other values as given."""
    if mixed_precision != "auto":
        return mixed_precision
    return "bfloat16" if native_bfloat16(cpuinfo) else None
