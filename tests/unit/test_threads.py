"""Importing shared or services caps numpy's BLAS at one thread before numpy loads, unless the
environment already chose (the classifier's ONNX Runtime pool owns the cores)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import {pkg}, os; print(os.environ.get('OPENBLAS_NUM_THREADS'))"


@pytest.mark.parametrize("pkg", ["shared", "services"])
def test_blas_threads_default_to_one(pkg: str) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(pkg=pkg)], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "1", out.stderr


def test_an_explicit_choice_is_kept() -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "3"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(pkg="shared")], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "3"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["OMP_NUM_THREADS"] = "2"
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(pkg="shared")], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "None"  # OpenBLAS then follows OMP_NUM_THREADS
