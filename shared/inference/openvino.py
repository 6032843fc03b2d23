"""ONNX Runtime's OpenVINO execution provider, a plugin library (the ``openvino`` extra).

``onnxruntime-ep-openvino`` ships the provider as a shared library for ONNX Runtime's plugin
interface: it is registered once per process, then a session asks for it by device
(:func:`session_options`). Nothing falls back silently: a missing package, a plugin that
offers no CPU device, or a graph the provider cannot take whole is a
:class:`~shared.errors.ProviderUnavailable` at start-up (``session.disable_cpu_ep_fallback``
makes ONNX Runtime refuse a session in which any node would run on its own CPU provider).
"""

from __future__ import annotations

import threading
from typing import Any

from shared.errors import ProviderUnavailable

__all__ = ["EP_NAME", "session_options"]

#: The execution provider's name in ONNX Runtime.
EP_NAME = "OpenVINOExecutionProvider"
_registered: set[str] = set()
_lock = threading.Lock()


def _register(ort: Any) -> None:
    try:
        import onnxruntime_ep_openvino as plugin  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ProviderUnavailable(
            "execution provider 'openvino' was requested but its plugin is not installed; "
            "install the 'openvino' extra (onnxruntime-ep-openvino) or set "
            "CLEARPATH_MODEL__PROVIDER=cpu"
        ) from exc
    with _lock:
        if EP_NAME in _registered:
            return
        try:
            ort.register_execution_provider_library(EP_NAME, plugin.get_library_path())
        except Exception as exc:  # ORT raises bare RuntimeError/Fail subclasses
            raise ProviderUnavailable(f"cannot load the OpenVINO plugin: {exc}") from exc
        _registered.add(EP_NAME)


def session_options(ort: Any, *, threads: int) -> Any:
    """Session options that put the whole graph on OpenVINO's CPU device, ``threads`` wide."""
    _register(ort)
    devices = [
        d
        for d in ort.get_ep_devices()
        if d.ep_name == EP_NAME and d.device.type == ort.OrtHardwareDeviceType.CPU
    ]
    if not devices:
        raise ProviderUnavailable("the OpenVINO plugin offers no CPU device on this machine")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    provider_options = {"num_of_threads": str(threads)} if threads > 0 else {}
    opts.add_provider_for_devices(devices, provider_options)
    return opts
