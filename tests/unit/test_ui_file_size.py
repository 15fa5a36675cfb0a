"""No module in `ui/` grows above 500 lines unless its docstring says why (issue 12: views hold
layout, controllers hold behaviour; a long file is a sign that a seam was missed).

The reason is a sentence in the module docstring starting "Longer than 500 lines because".
"""

from __future__ import annotations

import ast
from pathlib import Path

import poems_monitor.ui

MAX_LINES = 500
MARKER = "Longer than 500 lines because"
UI_ROOT = Path(poems_monitor.ui.__file__).parent


def oversized_without_reason(root: Path, max_lines: int = MAX_LINES) -> list[str]:
    """'path: N lines' for every .py file under `root` longer than `max_lines` whose module
    docstring does not carry the marker."""
    out = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines <= max_lines:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if MARKER.lower() not in " ".join(docstring.split()).lower():
            out.append(f"{path.relative_to(root).as_posix()}: {lines} lines")
    return out


def test_no_ui_module_above_500_lines_without_a_reason_at_its_top():
    offenders = oversized_without_reason(UI_ROOT)
    assert offenders == [], (
        "Split these ui modules (view / controller / helpers) or write at the top of the docstring "
        f"'{MARKER} …': {offenders}")


def test_the_check_finds_a_long_module_and_accepts_one_with_its_reason(tmp_path: Path):
    body = "\n".join(f"x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "short.py").write_text('"""Short."""\nx = 1\n', encoding="utf-8")
    (tmp_path / "long.py").write_text(f'"""A screen."""\n{body}\n', encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "explained.py").write_text(
        f'"""A screen.\n\nLonger than 500 lines\nbecause its one table model has 40 columns.\n"""\n{body}\n',
        encoding="utf-8")
    # the marker in a comment, not the docstring, is no reason
    (tmp_path / "sub" / "commented.py").write_text(f'"""A screen."""\n# {MARKER} x\n{body}\n', encoding="utf-8")

    assert oversized_without_reason(tmp_path) == [f"long.py: {MAX_LINES + 1} lines",
                                                  f"sub/commented.py: {MAX_LINES + 2} lines"]
