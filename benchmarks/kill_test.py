"""Kill test: at least 300 SIGKILLs across saves, corrections, imports, backups and restores.

Not run in CI (it takes minutes); run it and copy the figures into the README:

    PYTHONPATH=$PWD .venv/bin/python benchmarks/kill_test.py --kills 300

How: as in `tests/integration/test_crash_safety.py` (whose zygote and verification it reuses), a
warm process forks a worker per round that writes in a loop and prints "SAVED ..." after each
commit; here the worker also makes automatic backups (with rotation) and restores the newest
one (which holds every save, since it was just made). The parent kills the worker at a random
moment and, after every kill, requires: `check` finds the database sound (chain, head beside the
file, every row against its seal), every reported save is there and nothing is half-written.
It counts the hidden temporary copies a kill left and requires that the next backup or restore
removed them, and that the `*.replaced-*` copies stay within the backup policy's numbers.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration import test_crash_safety as crash  # noqa: E402

EXTRA = r'''
from pathlib import Path as _Path
from poems_monitor.services import backup as _backup

_ADMIN = Actor("admin-crash", Role.ADMIN)
_plain_work = work


def work(seed):
    rng = random.Random(seed * 7 + 1)
    db = open_database(DB)
    say(f"GO {os.getpid()}")
    roll = rng.random()
    if roll < 0.5:
        say("DOING backup")
        result = _backup.automatic_backup(db, force=True)
        say(f"SAVED backup {result.path.name}")
    if roll < 0.3:
        say("DOING restore")
        _backup.restore_from(_Path(DB), _ADMIN, result.path)
        say(f"SAVED restore {result.path.name}")
    say("DOING writes")
    db.dispose()
    _plain_work(seed)
'''


def _hidden_temporaries(*folders: Path) -> set[str]:
    return {f"{folder.name}/{p.name}" for folder in folders if folder.is_dir() for p in folder.iterdir()
            if p.name.startswith(".") and ".tmp" in p.name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--max-delay", type=float, default=0.6, help="longest wait before a kill (s)")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ["POEMS_MONITOR_HOME"] = str(home)
        from poems_monitor.config import app_paths
        from poems_monitor.services.backup import load_policy

        data = Path(tmp) / "data"
        data.mkdir()
        db_path = data / "kill.sqlite"
        crash._seed_database(db_path)
        script = Path(tmp) / "worker.py"
        head, _, tail = crash.WORKER.partition('say("READY")')
        script.write_text(head + EXTRA + '\nsay("READY")' + tail, encoding="utf-8")
        rng = random.Random(args.seed)
        zygote = crash.Zygote(script, db_path)
        saved_visits: dict[int, str] = {}
        saved_corrections: dict[int, int] = {}
        saved_imports: set[str] = set()
        counts = {"backup": 0, "restore": 0}
        killed_in = {"backup": 0, "restore": 0, "writes": 0}
        kills = kills_leaving_copies = 0
        left_before: set[str] = set()
        backups = load_policy().folder
        policy = load_policy()
        try:
            zygote.expect("READY", [], timeout=120)
            for round_no in range(args.kills):
                lines: list[str] = []
                zygote.send(f"FORK {round_no}")
                pid = int(zygote.expect("PID", lines).split()[1])
                zygote.expect("GO", lines, timeout=120)
                time.sleep(rng.uniform(0.0, args.max_delay))
                os.kill(pid, signal.SIGKILL)
                kills += 1
                zygote.send(f"WAIT {pid}")
                zygote.expect(f"DEAD {pid}", lines, timeout=120)
                doing = [x.split()[1] for x in lines if x.startswith("DOING ")]
                if doing:
                    killed_in[doing[-1]] += 1
                for line in (x for x in lines if x.startswith("SAVED ")):
                    kind, *rest = line.split()[1:]
                    if kind == "visit":
                        saved_visits[int(rest[0])] = rest[1]
                    elif kind == "correction":
                        saved_corrections[int(rest[0])] = max(saved_corrections.get(int(rest[0]), 0), int(rest[1]))
                    elif kind == "import":
                        saved_imports.add(rest[0])
                    elif kind in counts:
                        counts[kind] += 1
                left = _hidden_temporaries(data, backups)
                if left - left_before:
                    kills_leaving_copies += 1
                    if os.environ.get("KILL_TEST_VERBOSE"):
                        print("left by the kill:", sorted(left - left_before))
                for line in lines:  # a backup or restore that ran removed what earlier kills left in its folder
                    if line.startswith("SAVED backup"):
                        assert not {n for n in left_before if n.startswith("backups/")} & left, (left_before, left)
                    if line.startswith("SAVED restore"):
                        assert not {n for n in left_before if n.startswith("data/")} & left, (left_before, left)
                left_before = left
                crash._verify(db_path, saved_visits, saved_corrections, saved_imports)
                replaced = list(data.glob("kill.replaced-*"))
                assert len(replaced) <= policy.keep_daily + policy.keep_monthly, [p.name for p in replaced]
                if (round_no + 1) % 25 == 0:
                    print(f"{round_no + 1} kills, {time.monotonic() - started:.0f} s", flush=True)
        finally:
            zygote.close()
        # the next backup and restore leave nothing hidden behind
        from poems_monitor.persistence.db import open_database
        from poems_monitor.services.access import Actor, Role
        from poems_monitor.services.backup import automatic_backup, restore_from

        db = open_database(db_path)
        made = automatic_backup(db, force=True)
        db.dispose()
        restore_from(db_path, Actor("admin", Role.ADMIN), made.path)
        left = _hidden_temporaries(data, backups)
        assert not left, left
        crash._verify(db_path, saved_visits, saved_corrections, saved_imports)
        del app_paths
    elapsed = time.monotonic() - started
    print(f"{kills} SIGKILLs in {elapsed:.0f} s, landing in: {killed_in['writes']} saves/corrections/imports, "
          f"{killed_in['backup']} backups, {killed_in['restore']} restores. Reported saved and found after every "
          f"kill: {len(saved_visits)} visits, {len(saved_corrections)} corrected visits, {len(saved_imports)} imports, "
          f"{counts['backup']} backups, {counts['restore']} restores. `check` sound after every kill. "
          f"{kills_leaving_copies} kills left a hidden temporary copy; each was gone after the next backup or "
          f"restore in its folder, and none was left at the end.")


if __name__ == "__main__":
    main()
