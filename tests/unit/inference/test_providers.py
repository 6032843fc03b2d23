"""Provider selection: auto order, explicit requests, and never a silent CPU fallback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.errors import ConfigurationError, ProviderUnavailable
from shared.inference.providers import (
    available_cpus,
    check_session_providers,
    resolve_variant,
    select_providers,
)

CPU = ["CPUExecutionProvider"]
GPU = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_auto_prefers_tensorrt_then_cuda_then_cpu() -> None:
    assert select_providers("auto", GPU) == ("tensorrt", GPU)
    assert select_providers("auto", GPU[1:]) == ("cuda", GPU[1:])
    assert select_providers("auto", CPU) == ("cpu", CPU)


def test_explicit_gpu_provider_missing_is_fatal() -> None:
    with pytest.raises(ProviderUnavailable, match="cuda"):
        select_providers("cuda", CPU)
    with pytest.raises(ProviderUnavailable):
        select_providers("tensorrt", ["CUDAExecutionProvider", "CPUExecutionProvider"])


def test_unknown_provider_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        select_providers("rocm", CPU)


def test_session_that_dropped_the_gpu_is_fatal_when_explicit() -> None:
    with pytest.raises(ProviderUnavailable):
        check_session_providers("cuda", "cuda", CPU)
    # Under auto the provider that really engaged is reported (and lands in the version).
    assert check_session_providers("cuda", "auto", CPU) == "cpu"
    assert check_session_providers("cuda", "cuda", GPU[1:]) == "cuda"


def test_variant_auto_follows_the_provider() -> None:
    assert resolve_variant("auto", "cpu") == "int8"
    assert resolve_variant("auto", "cuda") == "fp16"
    assert resolve_variant("fp32", "cuda") == "fp32"
    with pytest.raises(ConfigurationError):
        resolve_variant("int4", "cpu")


def test_available_cpus_honours_a_cgroup_cpu_limit(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert available_cpus(tmp_path) == min(cores, 2)  # 1.5 CPUs: two runs, rounded up
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(tmp_path) == cores
    assert available_cpus(tmp_path / "missing") == cores
