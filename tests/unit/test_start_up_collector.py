"""The garbage collector's pause for start-up (issue 13, cold start): the command line loads its
modules, and the desktop app starts until its first paint, without cyclic collections; the
collector always comes back, however the command ends, and a pause inside stays a pause."""

from __future__ import annotations

import gc

import pytest

from poems_monitor.garbage_collector import collector_paused, pause_collector


def test_a_pause_ends_once_when_asked_and_nests_with_other_pauses():
    assert gc.isenabled()
    end = pause_collector()
    assert not gc.isenabled()
    with collector_paused():  # (a clinic-wide computation started meanwhile)
        end()
        assert not gc.isenabled()  # still paused for the computation
    assert gc.isenabled()
    end()  # a second call changes nothing
    assert gc.isenabled()
    with collector_paused():
        end()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_command_line_gives_the_collector_back_to_its_command_and_however_it_ends(monkeypatch, capsys):
    import poems_monitor.app
    from poems_monitor.cli import main

    during: list[bool] = []
    monkeypatch.setattr(poems_monitor.app, "run_app", lambda args: during.append(gc.isenabled()) or 0)
    assert main(["gui"]) == 0
    assert during == [True]  # the command's own work (the app pauses it again until its first paint)
    assert gc.isenabled()
    for argv in (["--help"], ["no-such-command"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert gc.isenabled()
