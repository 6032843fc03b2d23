"""Provider selection: auto order, explicit requests, and never a silent CPU fallback."""

from __future__ import annotations

import os
import sys
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


def test_openvino_is_chosen_only_explicitly() -> None:
    with_plugin = ["OpenVINOExecutionProvider", *CPU]
    assert select_providers("auto", with_plugin) == ("cpu", CPU)
    assert select_providers("openvino", CPU) == ("openvino", ["OpenVINOExecutionProvider"])
    assert resolve_variant("auto", "openvino") == "int8"
    assert resolve_variant("int8", "openvino") == "int8"
    with pytest.raises(ConfigurationError, match="int8"):
        resolve_variant("fp32", "openvino")


def test_a_session_without_openvino_is_fatal() -> None:
    with pytest.raises(ProviderUnavailable, match="OpenVINO"):
        check_session_providers("openvino", "openvino", CPU)


def test_openvino_without_its_plugin_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime as ort  # type: ignore[import-untyped]

    from shared.inference import openvino

    monkeypatch.setitem(sys.modules, "onnxruntime_ep_openvino", None)  # import fails
    monkeypatch.setattr(openvino, "_registered", set())
    with pytest.raises(ProviderUnavailable, match="'openvino' extra"):
        openvino.session_options(ort, threads=2)
