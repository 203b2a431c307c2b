"""The apps' imports point one way (campaigns → telephony → engine → calls → agents) and no product module
imports the emulators, nor the emulators' wire code the product: `lint-imports` checks the contracts in pyproject.toml, indirect imports included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_imports_point_one_way():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " kept, 0 broken" in result.stdout
    assert "Emulator wire code does not share the product's code KEPT" in result.stdout


def test_every_product_module_imports():
    """A move that leaves a stale import (`from agents import engine`) fails here, not mid-call."""
    import importlib
    import pkgutil

    broken = []
    for name in ("contactcenter", "agents", "calls", "engine", "telephony", "campaigns", "emulators"):
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if ".migrations" in info.name or info.name == "contactcenter.wsgi":
                continue
            try:
                importlib.import_module(info.name)
            except Exception as exc:  # noqa: BLE001 - collect every broken module, not just the first
                broken.append(f"{info.name}: {type(exc).__name__}: {exc}")
    assert not broken, "\n".join(broken)
