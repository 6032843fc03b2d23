"""``clearpath model build|train|eval``, ``clearpath classify`` and ``clearpath bench model``.

``register(app)`` adds them to the main Typer app. ``classify`` takes its action from the
policy engine (:func:`shared.pipeline.scored_decider`) unless a ``decide`` is injected.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.pipeline import ScoredDecide
from shared.settings import ModelSettings, Settings

__all__ = ["Decide", "register"]

#: (text, scores incl. "unsafe", profile or None, intent purpose or None) -> action.
Decide = ScoredDecide


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("text"), str):
                raise typer.BadParameter(f'{path}:{n}: each line needs an "id" and a "text"')
            yield row


def _intent(row: Mapping[str, Any]) -> str | None:
    intent = row.get("intent")
    if isinstance(intent, dict):
        purpose = intent.get("purpose")
        return str(purpose) if purpose is not None else None
    return str(intent) if intent is not None else None


def register(
    app: typer.Typer,
    *,
    decide: Decide | None = None,
    settings_factory: Callable[[], Settings] = Settings,
    bench_app: typer.Typer | None = None,
) -> None:
    """Add ``model``, ``classify`` and ``bench model`` to ``app``.

    Pass ``bench_app`` when another module already owns the ``bench`` group; ``model`` is then
    added to it instead of a new ``bench`` group.
    """
    model_app = typer.Typer(no_args_is_help=True, help="Build, train and evaluate the classifier.")
    app.add_typer(model_app, name="model")
    if bench_app is None:
        bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks.")
        app.add_typer(bench_app, name="bench")

    def model_settings(**overrides: Any) -> ModelSettings:
        base = settings_factory().model
        return base.model_copy(update={k: v for k, v in overrides.items() if v is not None})

    @model_app.command("build")
    def build(
        variant: Annotated[
            str, typer.Option(help="fp32, int8, fp16, int8-qdq (the openvino provider's) or all")
        ] = "all",
    ) -> None:
        """Build (or verify) the cached ONNX variants."""
        from shared.inference.assets import load_encoder_assets
        from shared.inference.variants import VARIANTS, ensure_variant, stale_files

        settings, assets = model_settings(), load_encoder_assets()
        known = VARIANTS
        # "all": what the ONNX Runtime providers run; int8-qdq only for the openvino extra
        names = [v for v in known if v == variant or (variant == "all" and v != "int8-qdq")]
        if not names:
            raise typer.BadParameter(f"unknown variant {variant!r}")
        for name in names:
            vf = ensure_variant(name, cache_dir=settings.cache_dir, assets=assets)
            typer.echo(f"{name}\t{vf.sha256[:8]}\t{vf.path}")
        stale = stale_files(settings.cache_dir, assets)
        if stale:
            size = sum(p.stat().st_size for p in stale)
            typer.echo(
                f"{len(stale)} files ({_mib(size)}) from earlier builds are no longer used; "
                "`clearpath model prune` removes them",
                err=True,
            )

    @model_app.command("prune")
    def prune(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="List what would go; remove nothing.")
        ] = False,
    ) -> None:
        """Remove cached variant files that this version no longer builds or serves.

        Stop workers of an older version that share this cache first: they would rebuild
        what they need on their next start.
        """
        from shared.inference.assets import load_encoder_assets
        from shared.inference.variants import stale_files

        settings = model_settings()
        stale = stale_files(settings.cache_dir, load_encoder_assets())
        size = 0
        for path in stale:
            size += path.stat().st_size
            if not dry_run:
                path.unlink(missing_ok=True)
            typer.echo(f"{'would remove' if dry_run else 'removed'}\t{path}")
        verb = "would free" if dry_run else "freed"
        typer.echo(f"{len(stale)} files, {verb} {_mib(size)} in {settings.cache_dir}")

    @model_app.command("calibrate")
    def calibrate(
        datasets: Annotated[Path, typer.Option(help="The training pool.")] = Path(
            "../shared/datasets"
        ),
        texts: Annotated[int, typer.Option(min=32, help="Training texts to measure on.")] = 3000,
        out: Annotated[
            Path | None, typer.Option(help="Output file (default: the shipped ranges).")
        ] = None,
    ) -> None:
        """Measure the int8 variant's activation ranges on training texts (fp32 graph)."""
        import onnx

        from shared.inference.assets import load_encoder_assets
        from shared.inference.graph import build_encoder_graph
        from shared.inference.pre import TextTokenizer
        from shared.inference.qdq_int8 import linear_inputs
        from shared.inference.static_int8 import RANGES_FILE
        from shared.inference.variants import dynamic_int8, ensure_variant
        from shared.training.int8_ranges import (
            activation_ranges,
            calibration_texts,
            tensor_ranges,
            write_ranges,
        )

        settings, assets = model_settings(), load_encoder_assets()
        fp32 = ensure_variant("fp32", cache_dir=settings.cache_dir, assets=assets)
        dynamic = dynamic_int8(cache_dir=settings.cache_dir, assets=assets)
        tokenizer = TextTokenizer(assets.tokenizer_file, max_tokens=settings.max_tokens)
        sample = calibration_texts(datasets, n=texts)
        ranges = activation_ranges(onnx.load(str(fp32.path)), dynamic, sample, tokenizer)
        raw = build_encoder_graph(assets.model_dir)
        qdq = tensor_ranges(raw, linear_inputs(raw), sample, tokenizer)
        target = out or RANGES_FILE
        write_ranges(ranges, texts=len(sample), out=target, qdq_ranges=qdq)
        typer.echo(
            f"{len(ranges)} + {len(qdq)} (int8-qdq) activation ranges from {len(sample)} texts"
            f" -> {target}"
        )

    @model_app.command("train")
    def train(
        datasets: Annotated[Path, typer.Option(help="The training pool.")] = Path(
            "../shared/datasets"
        ),
        out: Annotated[
            Path | None, typer.Option(help="Output directory (default: shipped assets).")
        ] = None,
        loso: Annotated[bool, typer.Option(help="Run leave-one-source-out evaluation.")] = True,
    ) -> None:
        """Fit the head on the permissive pool; write weights, calibration, thresholds, metrics."""
        from shared.inference.assets import head_assets_dir
        from shared.training.run import train_and_evaluate

        metrics = train_and_evaluate(datasets, out or head_assets_dir(), run_loso=loso)
        typer.echo(
            json.dumps({k: metrics[k] for k in ("head_version", "rows", "contrast")}, indent=2)
        )

    @model_app.command("finetune-export")
    def finetune_export(
        out: Annotated[Path, typer.Option(help="The .npz to write (derived data: never commit).")],
        datasets: Annotated[Path, typer.Option(help="The training pool.")] = Path(
            "../shared/datasets"
        ),
    ) -> None:
        """Write the permissive pool as token ids + targets for the LoRA trainer (GPU).

        The trainer is ``python -m shared.training.lora`` (torch: the ``finetune`` extra);
        scripts/gpu/ runs both on a GPU machine without network.
        """
        from shared.training.finetune import export_finetune_set
        from shared.training.run import load_jsonl_texts

        here = Path(__file__).resolve().parents[2] / "shared" / "training"
        counts = export_finetune_set(
            datasets,
            out,
            contrast=load_jsonl_texts(here / "contrast.jsonl"),
            harmful=load_jsonl_texts(here / "harmful.jsonl"),
        )
        typer.echo(json.dumps(counts))

    @model_app.command("eval")
    def evaluate(
        as_json: Annotated[bool, typer.Option("--json")] = False,
        datasets: Annotated[
            Path | None,
            typer.Option(
                help="Re-measure the head as served (this variant and provider) on the pool's "
                "validation and external rows (needs the train extra); default: the metrics "
                "recorded when it was trained."
            ),
        ] = None,
        out: Annotated[
            Path | None, typer.Option(help="Also write the report (JSON) to this file.")
        ] = None,
    ) -> None:
        """The shipped head on the contrast and harmful sets, plus its validation metrics."""
        from shared.inference.assets import head_assets_dir
        from shared.inference.classifier import build_classifier
        from shared.inference.post import load_thresholds
        from shared.training.run import load_jsonl_texts

        clf = build_classifier(model_settings())
        assets = head_assets_dir()
        thresholds = load_thresholds(assets)
        report: dict[str, Any] = {"version": clf.version}
        if datasets is not None:
            from shared.pipeline import scored_decider
            from shared.policy.loader import load_policy

            settings = settings_factory()
            rule: Decide = decide or scored_decider(load_policy(settings.policy.path))
            report.update(_served_report(clf, datasets, dict(thresholds), rule))
        else:
            here = Path(__file__).resolve().parents[2] / "shared" / "training"
            for name in ("contrast", "harmful"):
                probs = clf.score_texts(load_jsonl_texts(here / f"{name}.jsonl"))
                unsafe = probs[:, clf.labels.index("unsafe")]
                report[name] = {
                    "prompts": len(unsafe),
                    "flagged_unsafe": round(float((unsafe >= thresholds["unsafe"]).mean()), 4),
                }
            recorded = json.loads((assets / "metrics.json").read_text(encoding="utf-8"))
            report["validation"] = recorded.get("validation")
        report["validation_measured"] = datasets is not None
        if out is not None:
            out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if as_json:
            typer.echo(json.dumps(report))
            return
        typer.echo(f"classifier {report['version']}")
        for name in ("contrast", "harmful"):
            r = report[name]
            typer.echo(f"{name}: {r['flagged_unsafe']:.1%} of {r['prompts']} flagged unsafe")
        typer.echo("validation (" + ("measured now" if datasets else "recorded at training") + ")")
        for cat, m in (report["validation"] or {}).items():
            typer.echo(
                f"  {cat:<20} AUPRC {m['auprc']}  F1 {m['f1']}  "
                f"benign FPR {m['benign_fpr']}  ECE {m['ece']}"
            )
        if datasets is not None:
            pooled = report["external_unsafe_auprc"]
            typer.echo("external unsafe AUPRC " + ("—" if pooled is None else f"{pooled:.4f}"))
            typer.echo("under the configured policy: answered with a notice / refused, referred")
            typer.echo("or escalated")
            for group, d in report["decisions"].items():
                typer.echo(
                    f"  {group:<20} {d['rows']:>6} rows  {d['notice']:7.2%}  "
                    f"{d['refused_referred_escalated']:7.2%}"
                )

    @app.command("classify")
    def classify(
        input_file: Annotated[Path, typer.Option("--input", exists=True, dir_okay=False)],
        output: Annotated[Path | None, typer.Option("--output")] = None,
        batch: Annotated[int, typer.Option(min=1)] = 64,
    ) -> None:
        """Score JSONL: {"id","text"} lines in; {"id","scores","unsafe","action"} lines out."""
        from rich.console import Console
        from rich.progress import Progress

        from shared.inference.classifier import build_classifier
        from shared.pipeline import scored_decider
        from shared.policy.loader import load_policy

        clf = build_classifier(model_settings())
        settings = settings_factory()
        rule: Decide = decide or scored_decider(load_policy(settings.policy.path))
        rows = list(_lines(input_file))
        sink = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            with Progress(
                console=Console(stderr=True), disable=not sys.stderr.isatty(), transient=True
            ) as progress:
                task = progress.add_task("classifying", total=len(rows))
                for start in range(0, len(rows), batch):
                    chunk = rows[start : start + batch]
                    probs = clf.score_texts([r["text"] for r in chunk])
                    for row, p in zip(chunk, probs, strict=True):
                        scores = {
                            lab: round(float(v), 6) for lab, v in zip(clf.labels, p, strict=True)
                        }
                        unsafe = scores.pop("unsafe")
                        profile = row.get("profile")
                        action = rule(
                            row["text"],
                            {**scores, "unsafe": unsafe},
                            None if profile is None else str(profile),
                            _intent(row),
                        )
                        out = {
                            "id": row["id"],
                            "scores": scores,
                            "unsafe": unsafe,
                            "action": action,
                        }
                        sink.write(json.dumps(out) + "\n")
                    progress.advance(task, len(chunk))
        finally:
            if output:
                sink.close()

    @bench_app.command("model")
    def bench_model(
        as_json: Annotated[bool, typer.Option("--json")] = False,
        seconds: Annotated[float, typer.Option(help="Seconds per row.")] = 2.0,
        variants: Annotated[
            str, typer.Option(help="Comma-separated; default fp32,int8 (+fp16 on GPU).")
        ] = "",
        batches: Annotated[
            str,
            typer.Option(help="Comma-separated batch sizes; default 1,8,32,128 (GPU: up to 4096)."),
        ] = "",
        seq_lens: Annotated[str, typer.Option(help="Comma-separated token lengths.")] = "32,128",
        head: Annotated[
            bool,
            typer.Option(
                help="Time the head (MLP + lexical featuriser, on the CPU) with the encoder; "
                "--no-head times the encoder alone."
            ),
        ] = True,
    ) -> None:
        """Throughput and latency per variant, provider, batch size and length (32, 128)."""
        from shared.inference.assets import head_assets_dir
        from shared.inference.bench import bench_encoder
        from shared.inference.classifier import build_encoder
        from shared.inference.post import load_head
        from shared.inference.providers import CPU_PROVIDERS

        settings = model_settings()
        loaded = load_head(head_assets_dir()) if head else None
        on_cpu = settings.provider in CPU_PROVIDERS
        probe, _ = build_encoder(settings, variant="int8" if on_cpu else None)
        on_gpu = probe.provider not in CPU_PROVIDERS
        defaults = ["int8"] if probe.provider == "openvino" else ["fp32", "int8"]
        names = [v for v in variants.split(",") if v] or defaults + (["fp16"] if on_gpu else [])
        sizes = _ints(batches) or ((1, 8, 32, 128, 512, 1024, 4096) if on_gpu else (1, 8, 32, 128))
        lengths = _ints(seq_lens) or (32, 128)
        for name in names:
            # the probe is already open on one variant: reuse it, do not hold two copies
            # (OpenVINO serves int8 as its QDQ form, int8-qdq)
            reuse = probe.variant == name or (probe.provider == "openvino" and name == "int8")
            encoder = probe if reuse else build_encoder(settings, variant=name)[0]
            budget = settings.batch_tokens if encoder.provider == "cpu" else None
            for row in bench_encoder(
                encoder,
                loaded,
                batches=sizes,
                seq_lens=lengths,
                seconds=seconds,
                batch_tokens=budget,
            ):
                d = row.as_dict()
                line = (
                    f"{d['variant']:>5} {d['provider']:>8} b={d['batch']:<4} s={d['seq_len']:<4} "
                    f"{d['msgs_per_s']:>9.1f} msg/s  "
                    f"p50 {d['p50_ms']:.2f} ms  p99 {d['p99_ms']:.2f} ms"
                )
                typer.echo(json.dumps(d) if as_json else line)


def _ints(csv: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in csv.split(",") if v.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated integers, got {csv!r}") from exc
    if any(v < 1 for v in values):
        raise typer.BadParameter(f"values must be positive, got {csv!r}")
    return values


def _served_report(
    clf: Any, datasets: Path, thresholds: dict[str, float], decide: Decide
) -> dict[str, Any]:
    """``evaluate_served`` (with the policy's decisions) and a progress bar on a terminal."""
    from rich.console import Console
    from rich.progress import Progress

    from shared.training.run import evaluate_served

    with Progress(
        console=Console(stderr=True), disable=not sys.stderr.isatty(), transient=True
    ) as progress:
        task = progress.add_task("scoring validation and external rows", total=None)
        return evaluate_served(
            clf,
            datasets,
            thresholds,
            progress=lambda n: progress.advance(task, n),
            decide=decide,
        )


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.0f} MiB"
