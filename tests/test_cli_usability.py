"""The command line never leaves a user guessing: version, help and defaults for every option,
one way to name a config, clear lines for a bad --out, a closed pipe and Ctrl-C on a server."""

from __future__ import annotations

import argparse
import signal
import subprocess
import time
from pathlib import Path

from analyzer_drivers.formats.session_meta import SessionMeta
from power_director.cli.parser import build_parser
from power_director.observe.progress import ProgressLine, phase_label
from reports.version import tool_version
from tests.conftest import CLI, run_cli
from tests.test_cli import free_port

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ptd.toml"


def _parsers(parser: argparse.ArgumentParser, path: str = "power-director"):  # type: ignore[no-untyped-def]
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_version_and_every_option_has_help() -> None:
    result = run_cli("--version", timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"power-director {tool_version()}"
    missing = [f"{path} {action.option_strings or action.dest}"
               for path, parser in _parsers(build_parser()) for action in parser._actions
               if not isinstance(action, (argparse._HelpAction, argparse._VersionAction,
                                          argparse._SubParsersAction)) and not action.help]
    assert missing == []
    help_text = " ".join(run_cli("sim", "ptd", "--help", timeout=60).stdout.split())
    assert "(default: 8888)" in help_text and "(default: 127.0.0.1)" in help_text


def test_check_config_takes_config_like_run() -> None:
    for args in (["--config", str(EXAMPLE)], [str(EXAMPLE)]):
        result = run_cli("check-config", *args, timeout=60)
        assert result.returncode == 0, result.stderr
    neither = run_cli("check-config", timeout=60)
    assert neither.returncode == 2 and "takes one config file" in neither.stderr


def test_out_under_a_file_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    result = run_cli("run", "--config", str(EXAMPLE), "--out", str(blocker / "sub"), "--", "true",
                     timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2
    expected = f"cannot create the session directory under {blocker / 'sub'}: Not a directory"
    assert lines[-1] == f"power-director: error: {expected}"
    assert blocker.read_text() == "not a directory"


def test_a_closed_pipe_ends_quietly() -> None:
    process = subprocess.Popen([*CLI, "check-config", "--config", str(EXAMPLE)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before anything is written, as `| head -0`
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 0 and stderr == ""


def test_ctrl_c_on_a_simulator_does_not_talk_of_raw_data() -> None:
    port = free_port()
    # SIGINT at its default in the simulator: a test run started in the background (``&`` in a
    # script, nohup) ignores SIGINT, its children inherit that, and an ignored Ctrl-C stops nothing.
    default_sigint = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                      "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")
    process = subprocess.Popen([CLI[0], "-c", default_sigint, *CLI[1:], "sim", "ptd", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    assert "listening" in process.stdout.readline()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    stderr = process.stderr.read()
    assert "stopped" in stderr and "raw data" not in stderr and "Traceback" not in stderr


def test_progress_line_names_the_folder_and_counts_in_words() -> None:
    assert phase_label("testing_2") == "testing run 2 (run_2/)"
    assert phase_label("testing") == "testing (run_1/)" and phase_label("ranging") == "ranging"

    class Tty:
        def isatty(self) -> bool:
            return False

    line = ProgressLine(Tty())  # type: ignore[arg-type]
    line.on_state("testing_2", SessionMeta.from_json({"phases": {}}))
    line.samples, line.gaps = 1, 0
    text = line.text(time.time())
    assert "1 sample " in text and "0 gaps" in text and "run_2/" in text
    line._sample_s -= 10  # a meter silent for 10 s: the line says so
    assert "no sample for 10 s" in line.text(time.time())
