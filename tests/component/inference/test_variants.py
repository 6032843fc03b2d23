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
