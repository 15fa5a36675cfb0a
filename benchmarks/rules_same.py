"""Digests of what the rules give on a clinic, to compare two versions of the code (not a test).

    PYTHONPATH=/old/tree .venv/bin/python benchmarks/rules_same.py CLINIC.sqlite > old.json
    PYTHONPATH=$PWD      .venv/bin/python benchmarks/rules_same.py CLINIC.sqlite > new.json
    diff old.json new.json    # nothing: the same worklist, flags and stored cache rows
    (add --one-process to evaluate every record in the command's own process)

On a copy of CLINIC (never written), with the rules cache emptied first, through the command
line as a user runs it: the worklist and flags JSON from a cold cache, again from the filled
cache (a new process), the flags at an earlier as-of (full records, clipped), and the stored
cache rows (reduced course, flags, plan; all but the time they were written). Prints one JSON
object of sha256 digests and counts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

AS_OF, EARLIER = "2026-11-21", "2024-06-30"
ONE_PROCESS = "--one-process" in sys.argv  # else the worker processes share a clinic's records


# The command line with every record evaluated in its own process (no worker processes).
_ONE_PROCESS = ("import runpy, sys; from poems_monitor.services import rules_cache; rules_cache.POOL_MIN_PATIENTS = None; "
                "sys.argv[0] = 'poems-monitor'; runpy.run_module('poems_monitor', run_name='__main__')")


def cli(db: Path, *args: str) -> bytes:
    how = ["-c", _ONE_PROCESS] if ONE_PROCESS else ["-m", "poems_monitor"]
    out = subprocess.run([sys.executable, *how, "--db", str(db), "--user", "benchmark", *args],
                         capture_output=True, env=os.environ, timeout=1800)
    if out.returncode not in (0, 1):  # 1: something is overdue (documented exit status)
        sys.exit(f"{args}: exit {out.returncode}\n{out.stderr.decode()[-2000:]}")
    return out.stdout


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def main() -> None:
    source = Path(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="rules-same-") as tmp:
        db = Path(tmp) / "clinic.sqlite"
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{db}{suffix}")
        with sqlite3.connect(db) as con:
            con.execute("DELETE FROM rules_cache")
        out: dict[str, object] = {}
        for name, args in (("worklist cold", ("worklist", "--json", "--as-of", AS_OF)),
                           ("flags", ("flags", "--json", "--as-of", AS_OF)),
                           ("worklist cached", ("worklist", "--json", "--as-of", AS_OF)),
                           ("worklist all", ("worklist", "--json", "--all", "--as-of", AS_OF)),
                           ("flags earlier", ("flags", "--json", "--as-of", EARLIER))):
            text = cli(db, *args)
            out[name] = [digest(text), len(json.loads(text)) if text.strip() else 0]
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT patient_id, audit_id, protocol_sha, rules_version, latest_date, facts, flags, "
                               "plan_as_of, plan FROM rules_cache ORDER BY patient_id").fetchall()
        out["cache rows"] = len(rows)
        for i, column in enumerate(("facts", "flags", "plan"), start=5):
            out[f"cache {column}"] = digest("\n".join(str(r[i]) for r in rows).encode())
        out["cache stamps (rules_version differs with the code)"] = digest(
            "\n".join(f"{r[0]} {r[1]} {r[2]} {r[4]} {r[7]}" for r in rows).encode())
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
