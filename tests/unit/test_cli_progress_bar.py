"""The command line's progress bar (cli/progress.py) on a terminal: each step a row, a step of
unknown length shown done once the next one starts (its clock no longer running), and nothing at
all when the output is not a terminal."""

from __future__ import annotations

import io
import re

from poems_monitor.cli.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _frames(text: str) -> list[str]:
    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", text)
    return [line.strip() for line in re.split(r"[\r\n]", plain) if line.strip()]


def test_each_step_is_a_row_and_a_step_of_unknown_length_is_done_when_the_next_starts():
    terminal = _Terminal()
    with progress_bar(terminal) as report:
        assert report is not None
        report("Checking the file structure…", 0, 0)
        report("Comparing each patient's record with its seal", 1, 3)
        report("Comparing each patient's record with its seal", 3, 3)
    frames = _frames(terminal.getvalue())
    structure = [f for f in frames if f.startswith("Checking the file structure…")]
    assert structure and any("0/?" in f for f in structure)  # pulsing while it runs
    assert "1/1" in structure[-1]  # then done, not left pulsing beside the next step
    assert any(f.startswith("Comparing each patient's record with its seal") and "3/3" in f for f in frames)


def test_nothing_is_drawn_when_the_output_is_not_a_terminal():
    piped = io.StringIO()
    with progress_bar(piped) as report:
        assert report is None
    assert piped.getvalue() == ""
