"""The UI reaches data only through services (issue 12): the import contract in pyproject.toml
forbids `poems_monitor.ui` and the desktop app's composition root from importing models,
persistence, SQLAlchemy or SQLModel, with no exception list, and it holds."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_ID = "ui-through-services"


def _contract() -> dict:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c.get("id") == CONTRACT_ID)


def test_the_contract_forbids_every_data_layer_with_no_exceptions():
    contract = _contract()
    assert contract["type"] == "forbidden"
    assert set(contract["source_modules"]) >= {"poems_monitor.ui", "poems_monitor.app"}
    assert set(contract["forbidden_modules"]) >= {
        "poems_monitor.models", "poems_monitor.persistence", "sqlalchemy", "sqlmodel"}
    assert "ignore_imports" not in contract  # no exception list


def test_no_ui_module_imports_the_data_layers():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter), "--no-cache", "--no-logo", "--contract", CONTRACT_ID],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr  # names each forbidden import
    assert "The UI reaches data only through services KEPT" in result.stdout
