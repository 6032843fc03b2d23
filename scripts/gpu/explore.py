"""Where the fp16 encoder's GPU time goes: ONNX Runtime CUDA settings, one row each.

Speed only: the encoder is the project's own graph (``shared/inference/graph.py``) and fp16
recipe, built from *random* weights of MiniLM-L6's shapes, so this runs on a lent machine
that receives ~64 MiB per call (the CUDA build of ONNX Runtime takes most of it). Dense GEMMs
and fused kernels take the same time whatever the weights hold; the product's own numbers
come from ``clearpath bench model`` (scripts/gpu/device.sh bench).

Rows (JSON lines on stdout): how inputs and outputs travel (numpy, or bound on the GPU), CUDA
graphs, several streams at once, the attention kernel (``sdpa_kernel``), TunableOp, and the
tanh GELU. Usage: explore.py --config CONFIG_JSON [--cpu] [--budget SECONDS]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parents[2]
START = time.perf_counter()
STATE: dict[str, Any] = {"budget": 420.0, "device": "cuda", "provider": "CUDAExecutionProvider"}


def _graph_module() -> Any:
    spec = importlib.util.spec_from_file_location("cp_graph", ROOT / "shared/inference/graph.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def random_weights(config: dict[str, Any], out: Path) -> None:
    """MiniLM-L6's tensors (HF BERT names) filled with N(0, 0.05); LayerNorms at identity."""
    h, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    rng = np.random.default_rng(0)
    w: dict[str, np.ndarray] = {
        "embeddings.position_ids": np.arange(config["max_position_embeddings"])[None].astype(
            np.int64
        ),
        "embeddings.word_embeddings.weight": rng.normal(0, 0.05, (config["vocab_size"], h)),
        "embeddings.position_embeddings.weight": rng.normal(
            0, 0.05, (config["max_position_embeddings"], h)
        ),
        "embeddings.token_type_embeddings.weight": rng.normal(0, 0.05, (2, h)),
        "embeddings.LayerNorm.weight": np.ones(h),
        "embeddings.LayerNorm.bias": np.zeros(h),
    }
    shapes = {
        "attention.self.query": (h, h),
        "attention.self.key": (h, h),
        "attention.self.value": (h, h),
        "attention.output.dense": (h, h),
        "intermediate.dense": (ff, h),
        "output.dense": (h, ff),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name, shape in shapes.items():
            w[p + name + ".weight"] = rng.normal(0, 0.05, shape)
            w[p + name + ".bias"] = rng.normal(0, 0.02, shape[0])
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + ln + ".weight"] = np.ones(h)
            w[p + ln + ".bias"] = np.zeros(h)
    out.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v if v.dtype == np.int64 else v.astype(np.float32) for k, v in w.items()},
        str(out / "model.safetensors"),
    )
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")


def build_fp16(model_dir: Path, dest: Path, *, fast_gelu: bool) -> Path:
    """The project's fp16 recipe (shared/inference/variants.py ``_optimize``, use_gpu=True)."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    raw = _graph_module().build_encoder_graph(model_dir)
    opts = FusionOptions("bert")
    opts.enable_gelu_approximation = fast_gelu
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    m = optimizer.optimize_model(
        raw,
        model_type="bert",
        num_heads=cfg["num_attention_heads"],
        hidden_size=cfg["hidden_size"],
        opt_level=0,
        use_gpu=True,
        only_onnxruntime=False,
        optimization_options=opts,
    )
    m.convert_float_to_float16(keep_io_types=True)
    model = m.model
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(dest))
    ops: dict[str, int] = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    emit({"row": "graph", "fast_gelu": fast_gelu, "ops": ops})
    return dest


def emit(row: dict[str, Any]) -> None:
    row["t"] = round(time.perf_counter() - START, 1)
    print(json.dumps(row), flush=True)


def out_of_time() -> bool:
    return time.perf_counter() - START > STATE["budget"]


def session(path: Path, **cuda: Any) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if STATE["provider"] == "CPUExecutionProvider":
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    provider = ("CUDAExecutionProvider", {k: str(v) for k, v in cuda.items()})
    return ort.InferenceSession(str(path), opts, providers=[provider, "CPUExecutionProvider"])


def inputs(batch: int, seq: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch * 1000 + seq)
    ids = rng.integers(1000, 29000, size=(batch, seq), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 101, 102
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


class Bound:
    """Inputs copied to the device once, the output preallocated there: no host copies."""

    def __init__(self, sess: ort.InferenceSession, feed: dict[str, np.ndarray]) -> None:
        dev = STATE["device"]
        self.sess, self.binding = sess, sess.io_binding()
        self.values = {k: ort.OrtValue.ortvalue_from_numpy(v, dev, 0) for k, v in feed.items()}
        batch = feed["input_ids"].shape[0]
        self.out = ort.OrtValue.ortvalue_from_shape_and_type([batch, 384], np.float32, dev, 0)
        for k, v in self.values.items():
            self.binding.bind_ortvalue_input(k, v)
        self.binding.bind_ortvalue_output("sentence_embedding", self.out)

    def __call__(self) -> None:
        self.sess.run_with_iobinding(self.binding)


def numpy_runner(sess: ort.InferenceSession, feed: dict[str, np.ndarray]) -> Callable[[], None]:
    def run() -> None:
        sess.run(["sentence_embedding"], feed)

    return run


def timed(run: Callable[[], None], seconds: float) -> tuple[int, float, list[float]]:
    for _ in range(3):
        run()
    lat: list[float] = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds or len(lat) < 5:
        s = time.perf_counter()
        run()
        lat.append(time.perf_counter() - s)
    return len(lat), time.perf_counter() - t0, lat


def measure(
    label: str, run: Callable[[], None], batch: int, seq: int, seconds: float, **extra: Any
) -> None:
    n, elapsed, lat = timed(run, seconds)
    emit(
        {
            "row": label,
            "batch": batch,
            "seq_len": seq,
            "msgs_per_s": round(batch * n / elapsed),
            "p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 3),
            "p99_ms": round(float(np.percentile(lat, 99)) * 1e3, 3),
            "iterations": n,
            **extra,
        }
    )


def concurrent(
    label: str,
    sessions: list[ort.InferenceSession],
    batch: int,
    seq: int,
    seconds: float,
    **extra: Any,
) -> None:
    """One thread per session (or per slot, when a session repeats), each its own binding."""
    runners = [Bound(s, inputs(batch, seq)) for s in sessions]
    for r in runners:
        for _ in range(3):
            r()
    counts = [0] * len(runners)
    stop = threading.Event()

    def loop(i: int) -> None:
        while not stop.is_set():
            runners[i]()
            counts[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(runners))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    emit(
        {
            "row": label,
            "batch": batch,
            "seq_len": seq,
            "streams": len(runners),
            "msgs_per_s": round(batch * sum(counts) / elapsed),
            **extra,
        }
    )


def guarded(name: str, fn: Callable[[], None]) -> None:
    if out_of_time():
        emit({"row": name, "skipped": "out of time"})
        return
    try:
        fn()
    except Exception as exc:  # a failing experiment must not stop the others
        emit({"row": name, "error": f"{type(exc).__name__}: {exc}"[:600]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--cpu", action="store_true", help="a dry run on the CPU provider")
    ap.add_argument("--budget", type=float, default=420.0)
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--torch", action="store_true", help="also time a PyTorch reference")
    args = ap.parse_args()
    STATE["budget"] = args.budget
    if args.cpu:
        STATE.update(device="cpu", provider="CPUExecutionProvider")
    sec = args.seconds
    emit({"row": "env", "ort": ort.__version__, "providers": ort.get_available_providers()})
    work = Path(tempfile.mkdtemp(prefix="cp-explore-"))
    random_weights(json.loads(args.config.read_text(encoding="utf-8")), work / "w")
    fp16 = build_fp16(work / "w", work / "fp16.onnx", fast_gelu=False)
    big = (256, 1024, 8192) if not args.cpu else (8, 32)

    def baseline() -> None:
        s = session(fp16)
        for b in big:
            feed = inputs(b, 32)
            measure("numpy_io", numpy_runner(s, feed), b, 32, sec)
            measure("bound_io", Bound(s, feed), b, 32, sec)
        b = big[1]
        measure("numpy_io", numpy_runner(s, inputs(b, 128)), b, 128, sec)
        measure("bound_io", Bound(s, inputs(b, 128)), b, 128, sec)

    def cuda_graphs() -> None:
        for b in (128, 256, 512, 1024, 2048, 4096) if not args.cpu else ():
            if out_of_time():
                return
            s = session(fp16, enable_cuda_graph=1)
            measure("cuda_graph", Bound(s, inputs(b, 32)), b, 32, sec)
        if not args.cpu:
            s = session(fp16, enable_cuda_graph=1)
            measure("cuda_graph", Bound(s, inputs(1024, 128)), 1024, 128, sec)

    def streams() -> None:
        for k in (2, 4):
            ss = [session(fp16) for _ in range(k)]
            for b in (512, 1024, 2048) if not args.cpu else (8,):
                if out_of_time():
                    return
                concurrent("sessions_parallel", ss, b, 32, sec)
        s = session(fp16)
        concurrent("one_session_threads", [s] * 4, big[1], 32, sec)

    def graph_streams() -> None:
        if args.cpu:
            return
        for k, b in ((2, 1024), (4, 1024), (2, 2048), (4, 512)):
            if out_of_time():
                return
            ss = [session(fp16, enable_cuda_graph=1) for _ in range(k)]
            concurrent("cuda_graph_parallel", ss, b, 32, sec)

    def attention_kernels() -> None:
        if args.cpu:
            return
        for value, name in (
            (1, "flash"),
            (2, "efficient"),
            (4, "trt_fused"),
            (16, "math"),
            (32, "trt_flash"),
            (8, "cudnn_flash"),
        ):
            if out_of_time():
                return
            try:
                s = session(fp16, sdpa_kernel=value)
                for b in (1024, 8192):
                    measure("sdpa", Bound(s, inputs(b, 32)), b, 32, sec, kernel=name)
            except Exception as exc:
                emit({"row": "sdpa", "kernel": name, "error": str(exc)[:300]})

    def tunable() -> None:
        if args.cpu:
            return
        s = session(
            fp16,
            tunable_op_enable=1,
            tunable_op_tuning_enable=1,
            tunable_op_max_tuning_duration_ms=30,
        )
        for b in (1024, 8192):
            measure("tunable_op", Bound(s, inputs(b, 32)), b, 32, sec)

    def fast_gelu() -> None:
        path = build_fp16(work / "w", work / "fp16-fastgelu.onnx", fast_gelu=True)
        s = session(path)
        for b in big[1:]:
            measure("fast_gelu", Bound(s, inputs(b, 32)), b, 32, sec)

    def first_shapes() -> None:
        """What a new input shape costs on its first run (the per-hop p99 showed ~90 ms
        handler stalls on the GPU): a fresh session, 40 random (rows, padded length) shapes
        of serving size, each run twice; per default kernels and with each attention kernel
        forced. Rows: first-run and second-run ms, median and max."""
        rng = np.random.default_rng(7)
        shapes = [(int(rng.integers(1, 33)), int(rng.integers(8, 129))) for _ in range(40)]
        options: list[tuple[str, dict[str, Any]]] = [("default", {})]
        if not args.cpu:
            options += [("cudnn_flash", {"sdpa_kernel": 8}), ("efficient", {"sdpa_kernel": 2})]
            options += [("trt_fused", {"sdpa_kernel": 4}), ("math", {"sdpa_kernel": 16})]
        for name, cuda in options:
            if out_of_time():
                return
            s = session(fp16, **cuda)
            first: list[float] = []
            second: list[float] = []
            for rows, length in shapes:
                feed = inputs(rows, length)
                for bucket in (first, second):
                    t0 = time.perf_counter()
                    s.run(["sentence_embedding"], feed)
                    bucket.append((time.perf_counter() - t0) * 1e3)
            emit(
                {
                    "row": "first_shape",
                    "kernel": name,
                    "shapes": len(shapes),
                    "first_ms_median": round(float(np.median(first)), 2),
                    "first_ms_max": round(max(first), 2),
                    "second_ms_median": round(float(np.median(second)), 2),
                    "second_ms_max": round(max(second), 2),
                }
            )

    guarded("first_shapes", first_shapes)
    guarded("baseline", baseline)
    guarded("cuda_graphs", cuda_graphs)
    guarded("streams", streams)
    guarded("graph_streams", graph_streams)
    guarded("attention_kernels", attention_kernels)
    guarded("fast_gelu", fast_gelu)
    guarded("tunable", tunable)
    if args.torch:
        guarded("torch", lambda: torch_reference(work / "w", sec))
    emit({"row": "done"})


def torch_reference(model_dir: Path, seconds: float) -> None:
    """The same encoder in PyTorch eager (fp16, SDPA), for a ceiling: not the product."""
    import torch
    import torch.nn.functional as F
    from safetensors.torch import load_file

    dev = "cuda"
    w = {
        k: v.to(dev).half() if v.dtype != torch.int64 else v.to(dev)
        for k, v in load_file(str(model_dir / "model.safetensors")).items()
    }
    heads, layers = 12, 6

    def lin(x: Any, p: str) -> Any:
        return F.linear(x, w[p + ".weight"], w[p + ".bias"])

    def ln(x: Any, p: str) -> Any:
        return F.layer_norm(x, (x.shape[-1],), w[p + ".weight"], w[p + ".bias"], 1e-12)

    @torch.inference_mode()
    def forward(ids: Any) -> Any:
        b, t = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:t]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = ln(x, "embeddings.LayerNorm")
        for i in range(layers):
            p = f"encoder.layer.{i}."
            q, k, v = (
                lin(x, p + f"attention.self.{n}").view(b, t, heads, -1).transpose(1, 2)
                for n in ("query", "key", "value")
            )
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, -1)
            x = ln(lin(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            f = lin(F.gelu(lin(x, p + "intermediate.dense")), p + "output.dense")
            x = ln(f + x, p + "output.LayerNorm")
        return F.normalize(x.float().mean(1), dim=-1)

    for b in (1024, 8192):
        ids = torch.randint(1000, 29000, (b, 32), device=dev)

        def run(ids: Any = ids) -> None:
            forward(ids)
            torch.cuda.synchronize()

        measure("torch_eager", run, b, 32, seconds)
        g = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):
                forward(ids)
        torch.cuda.current_stream().wait_stream(s)
        with torch.cuda.graph(g):
            forward(ids)

        def replay(g: Any = g) -> None:
            g.replay()
            torch.cuda.synchronize()

        measure("torch_cuda_graph", replay, b, 32, seconds)


if __name__ == "__main__":
    sys.exit(main())
