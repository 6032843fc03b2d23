"""Execution providers: choose them from settings and verify the session really uses them.

``auto`` tries TensorRT, then CUDA, then CPU among ``onnxruntime.get_available_providers()``.
An explicitly requested GPU provider that is not available — or that the session silently
dropped because its libraries failed to load — is a :class:`ProviderUnavailable` at start-up,
never a quiet CPU fallback.

``openvino`` (Intel CPUs; the ``openvino`` extra) is chosen only explicitly: ONNX Runtime's
OpenVINO execution provider, a plugin library registered at start-up
(:mod:`shared.inference.openvino`), runs the int8 variant in QDQ form 1.3-1.4x as fast as
the CPU provider on uniform batches on a Xeon with AMX, but no faster on short mixed-length
batches (docs/MODEL_CARD.md, "Speed").
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from shared.errors import ConfigurationError, ProviderUnavailable

__all__ = [
    "CPU_PROVIDERS",
    "ORT_NAMES",
    "ProviderName",
    "available_cpus",
    "check_session_providers",
    "resolve_variant",
    "select_providers",
]

ProviderName = Literal["cpu", "cuda", "tensorrt", "openvino"]
ORT_NAMES: dict[ProviderName, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_CHAIN: dict[ProviderName, list[ProviderName]] = {
    "tensorrt": ["tensorrt", "cuda", "cpu"],
    "cuda": ["cuda", "cpu"],
    "openvino": ["openvino"],
    "cpu": ["cpu"],
}
#: Providers on the host's CPU (no device memory; the CPU batching rules apply).
CPU_PROVIDERS: frozenset[ProviderName] = frozenset({"cpu", "openvino"})


_ORDER: tuple[ProviderName, ...] = ("tensorrt", "cuda", "openvino", "cpu")


def _provider(name: str) -> ProviderName | None:
    return next((p for p in _ORDER if p == name), None)


def select_providers(requested: str, available: Sequence[str]) -> tuple[ProviderName, list[str]]:
    """The primary provider and the ORT provider list to open the session with."""
    if requested == "auto":
        primary: ProviderName = next(
            (p for p in ("tensorrt", "cuda") if ORT_NAMES[p] in available), "cpu"
        )
    elif requested == "openvino":
        # A plugin: not among ``available`` until registered (shared.inference.openvino).
        return "openvino", [ORT_NAMES["openvino"]]
    elif (explicit := _provider(requested)) is not None:
        primary = explicit
        if ORT_NAMES[primary] not in available:
            raise ProviderUnavailable(
                f"execution provider {requested!r} was requested but ONNX Runtime offers only "
                f"{list(available)}; install the 'gpu' extra (onnxruntime-gpu) and the CUDA "
                "libraries, or set CLEARPATH_MODEL__PROVIDER=cpu"
            )
    else:
        raise ConfigurationError(f"unknown execution provider {requested!r}")
    return primary, [ORT_NAMES[p] for p in _CHAIN[primary] if ORT_NAMES[p] in available]


def check_session_providers(
    primary: ProviderName, requested: str, in_use: Sequence[str]
) -> ProviderName:
    """The provider the session really runs on; fatal when an explicit request was dropped."""
    if ORT_NAMES[primary] in in_use:
        return primary
    if requested != "auto":
        libraries = "OpenVINO" if primary == "openvino" else "CUDA/cuDNN/TensorRT"
        raise ProviderUnavailable(
            f"ONNX Runtime could not load {ORT_NAMES[primary]} (session uses {list(in_use)}); "
            f"check the {libraries} libraries"
        )
    return next((p for p in _ORDER if ORT_NAMES[p] in in_use), "cpu")


def resolve_variant(variant: str, provider: ProviderName) -> Literal["fp32", "int8", "fp16"]:
    """``auto`` means int8 on a CPU provider and fp16 on a GPU provider; OpenVINO runs int8."""
    if variant == "auto":
        return "int8" if provider in CPU_PROVIDERS else "fp16"
    if provider == "openvino" and variant != "int8":
        raise ConfigurationError(
            f"the openvino provider serves the int8 variant only, not {variant!r}"
        )
    for known in ("fp32", "int8", "fp16"):
        if variant == known:
            return known
    raise ConfigurationError(f"unknown model variant {variant!r}")


def available_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota.

    In a container with a CPU limit the affinity mask still lists every core of the node;
    ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``) holds the limit.
    """
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = (cgroup_root / "cpu.max").read_text(encoding="ascii").split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))
