"""Build the wheel once per test session and install it into a temporary venv.

Shared by every xdist worker: the first one to take the lock builds into a
directory beside the workers' base temp dirs; the others reuse it. The
source is copied first (``git ls-files`` when available) so the build never
writes ``build/`` or ``*.egg-info`` into the checkout.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def campaignctl(self) -> Path:
        return self.bin / "campaignctl"

    def env(self, **extra: str) -> dict[str, str]:
        """An environment whose PATH starts with the venv and that sees no checkout on PYTHONPATH."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.venv)
        env.update(extra)
        return env


def _copy_source(dest: Path) -> None:
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(ROOT, dest, symlinks=True,
                        ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                                      ".*_cache", ".campaignctl"))
        return
    for name in filter(None, listed):
        src = ROOT / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(os.readlink(src))
        elif src.is_file():
            shutil.copy2(src, target)


def _pip(*args: str, python: str = sys.executable) -> None:
    proc = subprocess.run([python, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


def build_and_install(base: Path) -> Installed:
    """The wheel of this checkout installed (not editable) into a fresh venv under ``base``."""
    done = base / "done"
    if done.is_file():
        wheel, env_dir = done.read_text().splitlines()
        return Installed(Path(wheel), Path(env_dir))
    src = base / "src"
    if src.exists():
        shutil.rmtree(src)
    _copy_source(src)
    dist = base / "dist"
    _pip("wheel", "--no-deps", "-w", str(dist), str(src))
    wheel = next(dist.glob("campaign_reconciler-*.whl"))
    env_dir = base / "venv"
    if env_dir.exists():
        shutil.rmtree(env_dir)
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    _pip("install", str(wheel), python=str(env_dir / "bin" / "python"))
    shutil.rmtree(src, ignore_errors=True)
    done.write_text(f"{wheel}\n{env_dir}\n")
    return Installed(wheel, env_dir)


def installed_wheel(factory: pytest.TempPathFactory) -> Installed:
    # Every xdist worker has its own base temp dir; their parent is shared by the session.
    root = factory.getbasetemp()
    shared = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    base = shared / "campaignctl-wheel"
    base.mkdir(exist_ok=True)
    with (shared / "campaignctl-wheel.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return build_and_install(base)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
