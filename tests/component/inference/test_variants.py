"""Variant cache: files are checksummed and a tampered file is rebuilt, not served."""

from __future__ import annotations

from pathlib import Path

from shared.inference.assets import load_encoder_assets
from shared.inference.variants import ensure_variant, file_sha256


def test_tampered_cache_file_is_rebuilt(tmp_path: Path) -> None:
    assets = load_encoder_assets()
    built = ensure_variant("fp32", cache_dir=tmp_path, assets=assets)
    good = built.sha256
    with built.path.open("r+b") as f:  # flip one byte in the middle of the weights
        f.seek(built.path.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert file_sha256(built.path) != good
    again = ensure_variant("fp32", cache_dir=tmp_path, assets=assets)
    assert again.sha256 == good == file_sha256(again.path)


def test_cpu_variants_keep_residual_add_and_layernorm_unfused(tmp_path: Path) -> None:
    """The fused SkipLayerNormalization CPU kernel is ~10x slower than Add + LayerNormalization
    (a fifth of the int8 model's time): CPU files keep the two, CPU sessions do not re-fuse."""
    import onnx
    import onnxruntime as ort  # type: ignore[import-untyped]

    from shared.inference.core import open_session
    from shared.inference.variants import CPU_DISABLED_OPTIMIZERS

    built = ensure_variant("fp32", cache_dir=tmp_path, assets=load_encoder_assets())
    ops = [n.op_type for n in onnx.load(str(built.path)).graph.node]
    assert "SkipLayerNormalization" not in ops
    assert ops.count("LayerNormalization") == 12 and ops.count("Attention") == 6
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "as-run.onnx")
    ort.InferenceSession(
        str(built.path),
        opts,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(CPU_DISABLED_OPTIMIZERS),
    )
    as_run = [n.op_type for n in onnx.load(str(tmp_path / "as-run.onnx")).graph.node]
    assert "SkipLayerNormalization" not in as_run
    assert open_session(built, requested_provider="cpu", intra_op_threads=1).provider == "cpu"


def test_int8_quantises_activations_with_fixed_scales_in_fused_kernels(tmp_path: Path) -> None:
    import onnx

    from shared.inference.static_int8 import dynamic_inputs, load_ranges
    from shared.inference.variants import dynamic_int8

    assets = load_encoder_assets()
    ops = [
        n.op_type
        for n in onnx.load(
            str(ensure_variant("int8", cache_dir=tmp_path, assets=assets).path)
        ).graph.node
    ]
    assert "DynamicQuantizeLinear" not in ops and "MatMulInteger" not in ops
    assert ops.count("MatMulIntegerToFloat") == 18 and ops.count("QAttention") == 6
    assert ops.count("QuantizeLinear") == 24
    # the committed ranges cover every tensor the builder quantises, and nothing else
    names = dynamic_inputs(dynamic_int8(cache_dir=tmp_path, assets=assets))
    assert sorted(names) == sorted(load_ranges())
