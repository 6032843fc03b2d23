"""Zero the CUDA kernels of every GPU architecture but one in a shared library's fatbins.

onnxruntime-gpu's CUDA provider (284 MB) carries kernels for sm_75 to sm_120; a machine that
can receive only ~64 MiB per call needs only its own architecture's. The fatbin headers stay
(the driver still finds a matching sm_90 entry); the other entries' payloads become zeros,
which compress to nothing. Usage: prune_fatbin.py LIB OUT [--keep 90] (prints what it found).
"""

from __future__ import annotations

import argparse
import collections
import struct
import subprocess
from pathlib import Path

MAGIC = 0xBA55ED50


def _section(path: Path, name: str) -> tuple[int, int]:
    out = subprocess.check_output(["readelf", "-S", "-W", str(path)], text=True)
    for line in out.splitlines():
        if f" {name} " in line:
            fields = line.split("]", 1)[1].split()
            return int(fields[3], 16), int(fields[4], 16)
    raise SystemExit(f"{path}: no {name} section")


def prune(lib: Path, out: Path, keep: set[int]) -> collections.Counter[tuple[str, int]]:
    data = bytearray(lib.read_bytes())
    off, size = _section(lib, ".nv_fatbin")
    found: collections.Counter[tuple[str, int]] = collections.Counter()
    pos, end = off, off + size
    while pos < end:
        magic, _version, header, fat_size = struct.unpack_from("<IHHQ", data, pos)
        if magic != MAGIC:
            pos += 8  # alignment between fatbins
            continue
        entry, stop = pos + header, pos + header + fat_size
        while entry < stop:
            kind, _v, entry_header, padded = struct.unpack_from("<HHIQ", data, entry)
            if entry_header == 0:
                break
            arch = struct.unpack_from("<I", data, entry + 28)[0]
            found["ptx" if kind == 1 else "sass", arch] += padded
            if arch not in keep:
                start = entry + entry_header
                data[start : start + padded] = bytes(padded)
            entry += entry_header + padded
        pos = stop
    out.write_bytes(bytes(data))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("lib", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--keep", type=int, action="append", default=None)
    args = ap.parse_args()
    found = prune(args.lib, args.out, set(args.keep or [90]))
    for (kind, arch), n in sorted(found.items()):
        print(f"{kind} sm_{arch}: {n / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
