"""The clinic worklist screen, its table model and its rows (see view.py, model.py, rows.py).

The screen and the model are imported on first use: the worker process that computes a large
clinic's worklist imports `rows` alone, without Qt."""

from __future__ import annotations

from typing import Any

__all__ = ["WorklistFilter", "WorklistModel", "WorklistRow", "WorklistView", "load_worklist"]


def __getattr__(name: str) -> Any:  # noqa: ANN401 (PEP 562: the names above, imported when first asked for)
    if name == "WorklistView":
        from poems_monitor.ui.worklist.view import WorklistView

        return WorklistView
    if name in __all__:
        from poems_monitor.ui.worklist import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
