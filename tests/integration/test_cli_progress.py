"""The progress bar of long commands: drawn on a terminal, absent when the output is a pipe.

Runs `python -m poems_monitor` in a subprocess, once with stderr on a pseudo-terminal (what a
user at a terminal sees) and once with pipes (a script or a scheduled task)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "poems_monitor", *map(str, args)]


def run_on_terminal(*args: str | Path) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal; returns exit code, stdout, and what the terminal got."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    proc = subprocess.Popen(command(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=follower, env=env, text=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read()
    code = proc.wait(timeout=120)
    os.close(leader)
    return code, out, b"".join(chunks).decode("utf-8", "replace")


def test_long_commands_draw_a_bar_on_a_terminal_and_nothing_on_a_pipe(tmp_path):
    db, out = tmp_path / "demo.sqlite", tmp_path / "clinic.json"
    code, stdout, terminal = run_on_terminal("demo", "--patients", 3, "--seed", 2, "--db", db)
    assert code == 0 and "3 new patients," in stdout
    assert "Importing" in terminal and "3/3" in terminal

    code, stdout, terminal = run_on_terminal("export", "--db", db, out)
    assert code == 0 and stdout.strip() == f"Exported 3 patients to {out}"
    assert "Exporting" in terminal and "3/3" in terminal

    piped = subprocess.run(command("export", "--db", db, tmp_path / "again.json"), cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout.strip() == f"Exported 3 patients to {tmp_path / 'again.json'}"
    imported = subprocess.run(command("import", "--db", tmp_path / "other.sqlite", out), cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0 and imported.stderr == "", imported.stderr
    csv = subprocess.run(command("export-csv", "--db", db, tmp_path / "csv"), cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert csv.returncode == 0 and csv.stderr == "", csv.stderr
