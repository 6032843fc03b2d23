"""Variant cache: files are checksummed and a tampered file is rebuilt, not served."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from shared.inference.assets import load_encoder_assets
from shared.inference.variants import ensure_variant, file_sha256


@pytest.fixture(scope="module")
def built_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache dir for the tests that only read what the builder makes (fp32 and int8)."""
    return tmp_path_factory.mktemp("variants")


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


def test_int8_quantises_activations_with_fixed_scales_in_fused_kernels(built_dir: Path) -> None:
    import onnx

    from shared.inference.static_int8 import dynamic_inputs, load_ranges
    from shared.inference.variants import dynamic_int8

    assets = load_encoder_assets()
    ops = [
        n.op_type
        for n in onnx.load(
            str(ensure_variant("int8", cache_dir=built_dir, assets=assets).path)
        ).graph.node
    ]
    assert "DynamicQuantizeLinear" not in ops and "MatMulInteger" not in ops
    assert ops.count("MatMulIntegerToFloat") == 18 and ops.count("QAttention") == 6
    assert ops.count("QuantizeLinear") == 24
    # the committed ranges cover every tensor the builder quantises, and nothing else
    names = dynamic_inputs(dynamic_int8(cache_dir=built_dir, assets=assets))
    assert sorted(names) == sorted(load_ranges())


def test_calibration_measures_every_quantised_tensor_on_real_tokens(
    built_dir: Path, tmp_path: Path
) -> None:
    import onnx

    from shared.inference.graph import build_encoder_graph
    from shared.inference.pre import TextTokenizer
    from shared.inference.qdq_int8 import QDQ_RANGES_KEY, linear_inputs
    from shared.inference.static_int8 import load_ranges
    from shared.inference.variants import dynamic_int8
    from shared.training.int8_ranges import activation_ranges, tensor_ranges, write_ranges

    assets = load_encoder_assets()
    fp32 = ensure_variant("fp32", cache_dir=built_dir, assets=assets)
    dynamic = dynamic_int8(cache_dir=built_dir, assets=assets)
    tokenizer = TextTokenizer(assets.tokenizer_file, max_tokens=128)
    texts = ["hi", "How do I kill a Python process?", "Summarise Hamlet in three sentences."] * 3
    ranges = activation_ranges(onnx.load(str(fp32.path)), dynamic, texts, tokenizer)
    assert set(ranges) == set(load_ranges())
    assert all(low < high for low, high in ranges.values())
    # the openvino provider's int8-qdq variant: every linear layer's input of the raw graph
    raw = build_encoder_graph(assets.model_dir)
    qdq = tensor_ranges(raw, linear_inputs(raw), texts, tokenizer)
    assert set(qdq) == set(load_ranges(key=QDQ_RANGES_KEY))
    out = tmp_path / "ranges.json"
    write_ranges(ranges, texts=len(texts), out=out, qdq_ranges=qdq)
    again = load_ranges(out)
    assert set(again) == set(ranges)
    assert all(abs(again[k][0] - ranges[k][0]) < 1e-5 for k in ranges)
    assert load_ranges(out, key=QDQ_RANGES_KEY).keys() == qdq.keys()


def test_new_activation_ranges_name_a_new_file(
    built_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A recalibration must not serve the file built with the old ranges from the cache.
    from shared.inference import variants
    from shared.inference.qdq_int8 import QDQ_RANGES_KEY
    from shared.inference.static_int8 import load_ranges

    assets = load_encoder_assets()
    before = ensure_variant("int8-qdq", cache_dir=built_dir, assets=assets)
    assert re.search(r"-b\d+-r[0-9a-f]{8}\.onnx$", before.path.name)
    wider = {k: (lo * 1.1, hi * 1.1) for k, (lo, hi) in load_ranges(key=QDQ_RANGES_KEY).items()}
    monkeypatch.setattr(variants, "load_ranges", lambda key: wider)
    after = ensure_variant("int8-qdq", cache_dir=built_dir, assets=assets)
    assert after.path != before.path and after.sha256 != before.sha256


def _touch(path: Path, *, age_s: float = 0.0) -> Path:
    path.write_bytes(b"x" * 10)
    if age_s:
        old = time.time() - age_s
        os.utime(path, (old, old))
    return path


def test_stale_files_are_earlier_builds_only(tmp_path: Path) -> None:
    """An upgrade leaves the previous build's files behind; only those are stale."""
    from shared.inference.variants import VARIANTS, stale_files, variant_file_name

    assets = load_encoder_assets()
    current = [variant_file_name(v, assets) for v in VARIANTS]
    for name in current:
        _touch(tmp_path / name)
        _touch((tmp_path / name).with_suffix(".sha256"))
    sha = assets.weights_sha256[:12]
    stale = [
        _touch(tmp_path / f"minilm-l6-int8-{sha}-b2.onnx"),  # an earlier builder
        _touch(tmp_path / f"minilm-l6-int8-{sha}-b2.sha256"),
        _touch(tmp_path / f"minilm-l6-fp32-{'0' * 12}-b4.onnx"),  # other weights
        _touch(tmp_path / current[1].replace("-r", "-r0")),  # int8 with other ranges
        _touch(tmp_path / "tmpab12cd.onnx.tmp", age_s=7200),  # an interrupted build
    ]
    kept = [
        _touch(tmp_path / "tmpyoung.onnx.tmp"),  # maybe a build in progress
        _touch(tmp_path / "notes.txt"),
        _touch(tmp_path / "other-model.onnx"),
    ]
    (tmp_path / "tensorrt").mkdir()  # the TensorRT engine cache is not a variant file
    found = stale_files(tmp_path, assets)
    assert sorted(found) == sorted(stale)
    assert all(p.exists() for p in kept)


def test_prune_command_removes_only_stale_files(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from services.cli.model import register
    from shared.inference.variants import variant_file_name
    from shared.settings import ModelSettings, Settings

    assets = load_encoder_assets()
    live = _touch(tmp_path / variant_file_name("int8", assets))
    old = _touch(tmp_path / f"minilm-l6-int8-{assets.weights_sha256[:12]}-b3.onnx")
    app = typer.Typer()
    register(app, settings_factory=lambda: Settings(model=ModelSettings(cache_dir=tmp_path)))
    dry = CliRunner().invoke(app, ["model", "prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert old.exists() and "would remove" in dry.output and old.name in dry.output
    done = CliRunner().invoke(app, ["model", "prune"])
    assert done.exit_code == 0, done.output
    assert not old.exists() and live.exists()
    assert "1 files, freed 0 MiB" in done.output
