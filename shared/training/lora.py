"""LoRA fine-tuning of the MiniLM encoder, and the test of whether it earns its place.

Needs torch and, in practice, a GPU (the ``finetune`` step of docs/MODEL_CARD.md); nothing
at serving time imports it. Input: the set from :mod:`shared.training.finetune` and the
encoder's ``config.json`` + ``model.safetensors``. Output: ``report.json`` and, per LoRA
recipe, ``encoder_delta-<recipe>.npz`` — low-rank factors (A, B, scale) per linear layer that
:mod:`shared.inference.delta` merges into the base weights when the ONNX graph is built.

The encoder here is written in torch to match :mod:`shared.inference.graph` operation for
operation (folded token-type embedding, additive -10000 mask, erf GELU, post-LN, mean pooling
and L2 normalisation), so a delta trained here means the same thing in the ONNX graph.

Protocol (fixed before the first run; nothing here looks at external sources, which are not
in the input at all):

1. For each leave-group-out fold in ``FOLDS``: train on the train rows of the other sources,
   then (a) ``frozen``: the base encoder with an MLP head (384-512-12, 40 epochs, as the
   shipped head); (b) for each LoRA recipe, the fine-tuned encoder (trained jointly with a
   head) followed by a fresh 40-epoch MLP head on its frozen embeddings, so both sides are
   judged with the same kind of head. Thresholds: best F0.5 at <= 2 % benign FPR on the
   in-pool validation rows of the training sources. Reported on the held-out sources:
   unsafe AUPRC, recall on harmful rows and FPR on benign rows at that threshold.
2. The same for all train rows (no fold): the deltas to ship, with validation metrics.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from safetensors.numpy import load_file
from torch import nn

from shared.training.finetune import FOLDS
from shared.training.fit import auprc, choose_threshold, weights_by_source
from shared.training.mlp import label_weights

TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


@dataclass(frozen=True)
class Recipe:
    name: str
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.1
    epochs: int = 3
    batch: int = 64
    lr: float = 3e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.06


RECIPES = (Recipe("r16e1", epochs=1), Recipe("r16e3", epochs=3))
HEAD_EPOCHS, HEAD_HIDDEN = 40, 512
MAX_BENIGN_FPR = 0.02


class LoraLinear(nn.Module):
    """y = x Wᵀ + b + scale · (dropout(x) Aᵀ) Bᵀ, with W and b frozen."""

    def __init__(self, w: NDArray[np.float32], b: NDArray[np.float32], recipe: Recipe | None):
        super().__init__()
        self.register_buffer("w", torch.from_numpy(np.ascontiguousarray(w)))
        self.register_buffer("b", torch.from_numpy(np.ascontiguousarray(b)))
        self.rank = recipe.rank if recipe else 0
        if recipe is not None:
            out_f, in_f = w.shape
            self.a = nn.Parameter(torch.empty(recipe.rank, in_f))
            nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
            self.b_up = nn.Parameter(torch.zeros(out_f, recipe.rank))
            self.scale = recipe.alpha / recipe.rank
            self.drop = nn.Dropout(recipe.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.w, self.b)
        if self.rank:
            y = y + F.linear(F.linear(self.drop(x), self.a), self.b_up) * self.scale
        return y


class Encoder(nn.Module):
    """MiniLM-L6 as in shared.inference.graph, with optional LoRA on every linear layer."""

    def __init__(
        self, weights: dict[str, NDArray[np.float32]], cfg: dict[str, Any], recipe: Recipe | None
    ) -> None:
        super().__init__()
        self.hidden, self.heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
        self.eps = float(cfg["layer_norm_eps"])
        n_layers = int(cfg["num_hidden_layers"])
        w = weights
        self.register_buffer("word", torch.from_numpy(w["embeddings.word_embeddings.weight"]))
        self.register_buffer("pos", torch.from_numpy(w["embeddings.position_embeddings.weight"]))
        self.register_buffer(
            "type0", torch.from_numpy(w["embeddings.token_type_embeddings.weight"][0])
        )
        self.lns: dict[str, tuple[str, str]] = {}
        self._ln("emb", w, "embeddings.LayerNorm")
        self.linears = nn.ModuleDict()
        for i in range(n_layers):
            p = f"encoder.layer.{i}"
            for t in TARGETS:
                name = f"{p}.{t}"
                self.linears[name.replace(".", "_")] = LoraLinear(
                    w[f"{name}.weight"], w[f"{name}.bias"], recipe
                )
            self._ln(f"{i}.attn", w, f"{p}.attention.output.LayerNorm")
            self._ln(f"{i}.out", w, f"{p}.output.LayerNorm")
        self.n_layers = n_layers

    def _ln(self, key: str, w: dict[str, NDArray[np.float32]], prefix: str) -> None:
        g, b = f"ln_{key.replace('.', '_')}_g", f"ln_{key.replace('.', '_')}_b"
        self.register_buffer(g, torch.from_numpy(w[f"{prefix}.weight"]))
        self.register_buffer(b, torch.from_numpy(w[f"{prefix}.bias"]))
        self.lns[key] = (g, b)

    def _norm(self, key: str, x: torch.Tensor) -> torch.Tensor:
        g, b = self.lns[key]
        return F.layer_norm(x, (self.hidden,), getattr(self, g), getattr(self, b), self.eps)

    def lin(self, i: int, target: str) -> LoraLinear:
        return self.linears[f"encoder.layer.{i}.{target}".replace(".", "_")]

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        bsz, length = ids.shape
        x = self.word[ids] + self.pos[:length].unsqueeze(0) + self.type0
        x = self._norm("emb", x)
        add = ((1.0 - mask[:, None, None, :].to(x.dtype)) * -10000.0).to(x.dtype)
        dh = self.hidden // self.heads
        for i in range(self.n_layers):

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.view(bsz, length, self.heads, dh).transpose(1, 2)

            q = split(self.lin(i, "attention.self.query")(x))
            k = split(self.lin(i, "attention.self.key")(x))
            v = split(self.lin(i, "attention.self.value")(x))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=add.to(q.dtype))
            a = a.transpose(1, 2).reshape(bsz, length, self.hidden)
            x = self._norm(f"{i}.attn", self.lin(i, "attention.output.dense")(a) + x)
            h = F.gelu(self.lin(i, "intermediate.dense")(x))
            x = self._norm(f"{i}.out", self.lin(i, "output.dense")(h) + x)
        m = mask.unsqueeze(-1).to(x.dtype)
        mean = (x * m).sum(1) / m.sum(1).clamp_min(1e-9)
        return F.normalize(mean.float(), dim=-1)

    def delta(self) -> dict[str, NDArray[np.float16]]:
        """The trained factors: ``<linear>.lora_a`` [r, in], ``.lora_b`` [out, r], ``.scale``."""
        out: dict[str, Any] = {}
        for i in range(self.n_layers):
            for t in TARGETS:
                lin = self.lin(i, t)
                name = f"encoder.layer.{i}.{t}"
                out[f"{name}.lora_a"] = lin.a.detach().float().cpu().numpy().astype(np.float16)
                out[f"{name}.lora_b"] = lin.b_up.detach().float().cpu().numpy().astype(np.float16)
                out[f"{name}.scale"] = np.array(lin.scale, dtype=np.float32)
        return out


class Head(nn.Module):
    def __init__(self, dim: int, k: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, HEAD_HIDDEN), nn.ReLU(), nn.Dropout(dropout), nn.Linear(HEAD_HIDDEN, k)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --- data -----------------------------------------------------------------------------------


class Ragged:
    def __init__(self, flat: NDArray[np.int16], offsets: NDArray[np.int64]) -> None:
        self.flat, self.offsets = flat.astype(np.int64), offsets
        self.lengths = np.diff(offsets)

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, rows: NDArray[np.int64], device: torch.device) -> tuple[torch.Tensor, ...]:
        width = int(self.lengths[rows].max())
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, j in enumerate(rows):
            s, e = self.offsets[j], self.offsets[j + 1]
            ids[r, : e - s] = self.flat[s:e]
            mask[r, : e - s] = 1
        return (
            torch.from_numpy(ids).to(device, non_blocking=True),
            torch.from_numpy(mask).to(device, non_blocking=True),
        )


def length_batches(
    lengths: NDArray[np.int64], rows: NDArray[np.int64], batch: int, rng: np.random.Generator
) -> list[NDArray[np.int64]]:
    """Shuffled batches of similar length (sort within chunks of 50 batches), less padding."""
    order = rows[rng.permutation(len(rows))]
    out: list[NDArray[np.int64]] = []
    chunk = batch * 50
    for s in range(0, len(order), chunk):
        part = order[s : s + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        out.extend(part[i : i + batch] for i in range(0, len(part), batch))
    return [out[i] for i in rng.permutation(len(out))]


@torch.no_grad()
def embed(
    enc: Encoder, data: Ragged, rows: NDArray[np.int64], device: torch.device
) -> torch.Tensor:
    enc.eval()
    order = rows[np.argsort(data.lengths[rows], kind="stable")]
    out = torch.empty((len(rows), enc.hidden), device=device)
    pos = {int(r): i for i, r in enumerate(rows)}
    for s in range(0, len(order), 512):
        part = order[s : s + 512]
        ids, mask = data.batch(part, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            e = enc(ids, mask)
        out[torch.tensor([pos[int(r)] for r in part], device=device)] = e.float()
    return out


def _schedule(opt: torch.optim.Optimizer, total: int, warmup: float) -> Any:
    warm = max(1, int(total * warmup))

    def f(step: int) -> float:
        return step / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))

    return torch.optim.lr_scheduler.LambdaLR(opt, f)


def masked_bce(z: torch.Tensor, t: torch.Tensor, lw: torch.Tensor) -> torch.Tensor:
    return (F.binary_cross_entropy_with_logits(z.float(), t, reduction="none") * lw).sum() / len(z)


def fit_head_on(x: torch.Tensor, t: torch.Tensor, lw: torch.Tensor, seed: int) -> Head:
    """The shipped head's recipe on fixed embeddings: MLP 512, Adam 1e-3, wd 1e-4, 40 epochs."""
    torch.manual_seed(seed)
    head = Head(x.shape[1], t.shape[1]).to(x.device)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for _ in range(HEAD_EPOCHS):
        order = torch.randperm(len(x), generator=gen).to(x.device)
        for s in range(0, len(x), 512):
            idx = order[s : s + 512]
            loss = masked_bce(head(x[idx]), t[idx], lw[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return head


def finetune(
    weights: dict[str, NDArray[np.float32]],
    cfg: dict[str, Any],
    recipe: Recipe,
    data: Ragged,
    rows: NDArray[np.int64],
    t: torch.Tensor,
    lw: torch.Tensor,
    device: torch.device,
    seed: int,
) -> tuple[Encoder, dict[str, float]]:
    """LoRA + a head trained jointly on ``rows`` (t, lw aligned with rows)."""
    torch.manual_seed(seed)
    enc = Encoder(weights, cfg, recipe).to(device)
    head = Head(enc.hidden, t.shape[1], dropout=0.1).to(device)
    lora = [p for n, p in enc.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [
            {"params": lora, "lr": recipe.lr, "weight_decay": recipe.weight_decay},
            {"params": list(head.parameters()), "lr": recipe.head_lr, "weight_decay": 1e-4},
        ]
    )
    rng = np.random.default_rng(seed)
    local = np.arange(len(rows))
    steps_per_epoch = math.ceil(len(rows) / recipe.batch)
    sched = _schedule(opt, steps_per_epoch * recipe.epochs, recipe.warmup)
    started, losses = time.perf_counter(), []
    for _ in range(recipe.epochs):
        enc.train()
        head.train()
        for part in length_batches(data.lengths[rows], local, recipe.batch, rng):
            ids, mask = data.batch(rows[part], device)
            idx = torch.from_numpy(part).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                z = head(enc(ids, mask))
            loss = masked_bce(z, t[idx], lw[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
    return enc, {
        "seconds": round(time.perf_counter() - started, 1),
        "steps": len(losses),
        "loss_first_100": round(float(np.mean(losses[:100])), 4),
        "loss_last_100": round(float(np.mean(losses[-100:])), 4),
    }


# --- evaluation -----------------------------------------------------------------------------


def _probs(head: Head, x: torch.Tensor) -> NDArray[np.float64]:
    head.eval()
    with torch.no_grad():
        return torch.sigmoid(head(x)).double().cpu().numpy()


def judge(
    enc: Encoder,
    sets: dict[str, Any],
    train_rows: NDArray[np.int64],
    val_rows: NDArray[np.int64],
    held_rows: NDArray[np.int64],
    device: torch.device,
    seed: int,
) -> dict[str, Any]:
    """Fresh 40-epoch head on ``enc``'s embeddings; threshold on val; metrics on held-out."""
    data, y = sets["data"], sets["y"]
    x_tr = embed(enc, data, train_rows, device)
    t_tr, lw_tr = sets["targets"](train_rows)
    head = fit_head_on(x_tr, t_tr, lw_tr, seed)
    unsafe = y.shape[1] - 1
    p_val = _probs(head, embed(enc, data, val_rows, device))
    benign_val = y[val_rows, unsafe] == 0
    thr = choose_threshold(
        p_val[:, unsafe], y[val_rows, unsafe], benign_val, max_fpr=MAX_BENIGN_FPR
    )["threshold"]
    out: dict[str, Any] = {
        "threshold": thr,
        "validation_unsafe_auprc": auprc(p_val[:, unsafe], y[val_rows, unsafe]),
    }
    if len(held_rows):
        p = _probs(head, embed(enc, data, held_rows, device))[:, unsafe]
        yh = y[held_rows, unsafe]
        src = sets["source"][held_rows]
        out["held_out_unsafe_auprc"] = auprc(p, yh)
        out["held_out_recall"] = float((p[yh == 1] >= thr).mean()) if (yh == 1).any() else None
        out["held_out_benign_fpr"] = float((p[yh == 0] >= thr).mean()) if (yh == 0).any() else None
        per: dict[str, Any] = {}
        for s in np.unique(src):
            sel = src == s
            name = str(sets["names"][s])
            per[name] = {
                "rows": int(sel.sum()),
                "auprc": auprc(p[sel], yh[sel]),
                "flagged": round(float((p[sel] >= thr).mean()), 4),
            }
        out["held_out_per_source"] = per
    for key in ("contrast", "harmful"):
        extra = sets[key]
        p = _probs(head, embed(enc, extra, np.arange(len(extra)), device))[:, unsafe]
        out[f"{key}_flagged_unsafe"] = round(float((p >= thr).mean()), 4)
    return out


def run(data_file: Path, weights_dir: Path, out_dir: Path, *, folds: bool = True) -> dict[str, Any]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    cfg = json.loads((weights_dir / "config.json").read_text(encoding="utf-8"))
    weights = {
        k: np.ascontiguousarray(v.astype(np.float32))
        for k, v in load_file(str(weights_dir / "model.safetensors")).items()
        if v.dtype != np.int64
    }
    z = np.load(data_file, allow_pickle=False)
    data = Ragged(z["ids"], z["offsets"])
    y = z["y"].astype(np.float64)
    names = [str(s) for s in z["source_names"]]
    source = z["source"].astype(np.int64)
    split = z["split"].astype(bool)
    row_weight = z["row_weight"].astype(np.float64)

    def targets(rows: NDArray[np.int64]) -> tuple[torch.Tensor, torch.Tensor]:
        w = weights_by_source([names[s] for s in source[rows]], row_weight[rows])
        lw = label_weights(y[rows], w)
        return (
            torch.from_numpy(np.nan_to_num(y[rows])).float().to(device),
            torch.from_numpy(lw).float().to(device),
        )

    sets = {
        "data": data,
        "y": y,
        "source": source,
        "names": names,
        "targets": targets,
        "contrast": Ragged(z["contrast_ids"], z["contrast_offsets"]),
        "harmful": Ragged(z["harmful_ids"], z["harmful_offsets"]),
    }
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "rows": len(data),
        "recipes": [r.__dict__ for r in RECIPES],
        "folds": {},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    # The shippable deltas first: a run cut short still leaves them.
    plan: list[tuple[str, tuple[str, ...]]] = [("all", ())]
    if folds:
        plan += [(f, FOLDS[f]) for f in FOLDS]
    for fold, held in plan:
        held_src = np.isin(source, [names.index(s) for s in held])
        train_rows = np.flatnonzero(~split & ~held_src)
        val_rows = np.flatnonzero(split & ~held_src)
        held_rows = np.flatnonzero(held_src)
        res: dict[str, Any] = {"held_out": list(held), "train_rows": len(train_rows)}
        started = time.perf_counter()
        base = Encoder(weights, cfg, None).to(device)
        res["frozen"] = judge(base, sets, train_rows, val_rows, held_rows, device, seed=0)
        del base
        for recipe in RECIPES:
            t, lw = targets(train_rows)
            enc, log = finetune(weights, cfg, recipe, data, train_rows, t, lw, device, seed=0)
            res[recipe.name] = {
                "train": log,
                **judge(enc, sets, train_rows, val_rows, held_rows, device, seed=0),
            }
            if fold == "all":
                np.savez(out_dir / f"encoder_delta-{recipe.name}.npz", **enc.delta())  # type: ignore[arg-type]
            del enc
        res["seconds"] = round(time.perf_counter() - started, 1)
        report["folds"][fold] = res
        (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps({fold: _summary(res)}), flush=True)
    return report


def _summary(res: dict[str, Any]) -> dict[str, Any]:
    keys = ("validation_unsafe_auprc", "held_out_unsafe_auprc", "held_out_recall",
            "held_out_benign_fpr", "contrast_flagged_unsafe", "harmful_flagged_unsafe")  # fmt: skip
    out: dict[str, Any] = {}
    for name in ("frozen", *(r.name for r in RECIPES)):
        if name in res:
            out[name] = {
                k: round(v, 4) if isinstance(v, float) else v
                for k, v in res[name].items()
                if k in keys
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--weights", type=Path, required=True, help="config.json + model.safetensors")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--no-folds", action="store_true")
    ap.add_argument("--limit", type=int, default=0, help="Smoke test: at most this many rows.")
    args = ap.parse_args()
    data = args.data
    if args.limit:
        data = _subset(args.data, args.limit, args.out)
    run(data, args.weights, args.out, folds=not args.no_folds)


def _subset(path: Path, limit: int, out_dir: Path) -> Path:
    """A smaller copy of the set (every source kept, rows thinned evenly) for smoke tests."""
    z = dict(np.load(path, allow_pickle=False))
    n = len(z["offsets"]) - 1
    keep = np.unique(np.linspace(0, n - 1, min(limit, n)).astype(np.int64))
    lengths = np.diff(z["offsets"])[keep]
    starts = z["offsets"][keep]
    z["ids"] = np.concatenate([z["ids"][s : s + n_] for s, n_ in zip(starts, lengths, strict=True)])
    z["offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    for key in ("y", "row_weight", "source", "split"):
        z[key] = z[key][keep]
    out_dir.mkdir(parents=True, exist_ok=True)
    small = out_dir / "subset.npz"
    np.savez(small, **z)
    return small


if __name__ == "__main__":
    main()
