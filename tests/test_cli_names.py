"""One name per thing across commands, a dispatch table, and the old spellings kept (hidden, with
a note) for one release: ``agent`` → ``sut-agent``, ``--mqtt`` → ``--broker``, ``--out`` of
``submission`` → ``--tree`` and of ``calibrate`` → ``--calibration-file``, ``--ssl-*`` →
``--tls-*``, ``check-config FILE`` → ``check-config --config FILE``."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from power_director.cli import app
from power_director.cli.parser import build_parser
from tests.conftest import run_cli

OLD_AND_NEW = [
    (["run", "--config", "c.toml", "--mqtt", "h:1883", "--", "true"],
     ["run", "--config", "c.toml", "--broker", "h:1883", "--", "true"]),
    (["demo", "--mqtt=h:1883"], ["demo", "--broker=h:1883"]),
    (["submission", "s", "--submitter", "a", "--system", "b", "--model", "c", "--out", "t"],
     ["submission", "s", "--submitter", "a", "--system", "b", "--model", "c", "--tree", "t"]),
    (["calibrate", "s", "--out", "c.json"], ["calibrate", "s", "--calibration-file", "c.json"]),
    (["sim", "redfish", "--ssl-cert", "c.pem", "--ssl-key", "k.pem"],
     ["sim", "redfish", "--tls-cert", "c.pem", "--tls-key", "k.pem"]),
    (["agent", "--director", "h:4950", "--", "true"], ["sut-agent", "--director", "h:4950", "--", "true"]),
]


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_every_command_has_one_handler_and_nothing_falls_through() -> None:
    listed = {choice.dest for choice in _subparsers(build_parser())._choices_actions}
    assert listed == set(app.COMMANDS)
    assert all(callable(app.handler(command)) for command in app.COMMANDS)
    with pytest.raises(KeyError):
        app.handler("bogus")  # no default branch: an unknown command is not a simulator
    with pytest.raises(SystemExit) as exited:
        app.main(["bogus"])
    assert exited.value.code == 2


@pytest.mark.parametrize(("old", "new"), OLD_AND_NEW, ids=[" ".join(o[:2]) for o, _ in OLD_AND_NEW])
def test_an_old_spelling_means_what_the_new_one_does(old: list[str], new: list[str]) -> None:
    old_args, new_args = build_parser().parse_args(old), build_parser().parse_args(new)
    old_args.command = app.canonical(old_args.command)
    assert vars(old_args) == vars(new_args)
    assert len(app.renamed_notes(old)) == 1 + ("--ssl-key" in old) and app.renamed_notes(new) == []


def test_old_spellings_are_in_no_help() -> None:
    top = run_cli("--help", timeout=60).stdout
    assert "sut-agent" in top and " agent " not in top and "{" not in top
    for command, old in [("submission", "--out"), ("calibrate", "--out"), ("run", "--mqtt"),
                         ("check-config", "[FILE]")]:
        text = run_cli(command, "--help", timeout=60).stdout
        assert old not in text, (command, old)
    assert "--ssl" not in run_cli("sim", "redfish", "--help", timeout=60).stdout


def test_an_old_spelling_still_runs_with_a_note(tmp_path: Path) -> None:
    """The note comes before the command's own outcome; the exit status is the command's."""
    result = run_cli("submission", str(tmp_path / "none"), "--submitter", "a", "--system", "b",
                     "--model", "c", "--out", str(tmp_path / "tree"), timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 2
    assert lines[0] == ("power-director: note: --out is now --tree "
                        "(the old spelling goes in the next release)")
    assert lines[1].startswith("power-director: error: ")
    assert not (tmp_path / "tree").exists()


def test_a_workload_s_own_options_are_not_old_spellings() -> None:
    """After ``--`` the words are the workload's: its ``--out`` or ``--mqtt`` is not ours."""
    assert app.renamed_notes(["run", "--config", "c", "--", "bench", "--mqtt", "x", "--out", "y"]) == []


def test_version_and_help_load_no_driver_numpy_or_pandas() -> None:
    """What makes ``--version``/``--help`` fast (timed in bench/cli_startup.py): the command
    modules load only when their command runs."""
    probe = ("import sys\nfrom power_director.cli.app import main\n"
             "for argv in (['--version'], ['--help']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "heavy = ('numpy', 'pandas', 'matplotlib', 'asyncio', 'aiomqtt', 'pyvisa', "
             "'power_director.cli.measuring', 'analyzer_drivers.base')\n"
             "print('LOADED', [m for m in heavy if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          check=True)
    assert done.stdout.splitlines()[-1] == "LOADED []"
