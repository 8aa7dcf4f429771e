"""``power-director``: the command line. Exit 0 only for a completed, valid measurement.

``COMMANDS`` is the dispatch table: each command's handler, ``(args, tracker) -> exit status``,
lives in a module of this package that is imported only when that command runs, so
``--version`` and ``--help`` load no driver, numpy or pandas (``bench/cli_startup.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from analyzer_drivers.formats.errors import PowerDirectorError
from power_director.cli.exits import EXIT_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED
from power_director.cli.help import RENAMED, renamed_notes
from power_director.cli.interrupt import Interrupted, SessionTracker, interrupted_text
from power_director.cli.parser import build_parser

Handler = Callable[[argparse.Namespace, SessionTracker], int]

#: command -> "module:function" under power_director.cli
COMMANDS = {
    "demo": "measuring:demo", "run": "measuring:run", "serve": "measuring:serve",
    "sut-agent": "measuring:sut_agent", "meter-agent": "measuring:meter_agent",
    "measure": "measure:command", "training": "training:command", "qualify": "training:run_qualify",
    "check-config": "files:check_config", "report": "files:report", "audit": "files:audit",
    "submission": "mlperf:submission", "sources-checksums": "mlperf:sources_checksums",
    "ls": "results:run_ls", "compare": "results:run_compare",
    "calibrate": "calibrate:calibrate", "advise": "calibrate:advise", "sim": "sim:run_sim",
}
ALIASES = {"query": "ls"}  # and, for one release, the old names in help.RENAMED
MEASURING_COMMANDS = ("run", "demo", "sut-agent", "serve", "measure", "training")
# Every error of ours is a PowerDirectorError; OSError is the system's (a full disk, a refused port).
EXPECTED_ERRORS = (PowerDirectorError, OSError)


def handler(command: str) -> Handler:
    module, _, function = COMMANDS[command].partition(":")
    found: Handler = getattr(importlib.import_module(f"power_director.cli.{module}"), function)
    return found


def canonical(command: str) -> str:
    return ALIASES.get(command) or RENAMED.get(("", command)) or command


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(words)
    for note in renamed_notes(words):
        print(f"power-director: note: {note}", file=sys.stderr)
    command = args.command = canonical(args.command)
    tracker = SessionTracker()
    try:
        return handler(command)(args, tracker)
    except BrokenPipeError:
        # The reader went away (``| head``): what it wanted is printed; say nothing more.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Interrupted as exc:  # before EXPECTED_ERRORS: it is one too, with its own exit status
        print(f"power-director: {'' if command == 'sim' else 'error: '}{exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except EXPECTED_ERRORS as exc:
        print(f"power-director: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # before a command's own handler is installed, or after it
        if command in MEASURING_COMMANDS:
            print(f"power-director: error: {interrupted_text(command, 'SIGINT', tracker)}", file=sys.stderr)
        else:
            print(f"power-director: {command} stopped (interrupted)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of ours: still one line, and the raw data stays on disk
        kept = tracker.kept()
        where = f"raw data kept in {', '.join(map(str, kept))}; " if kept else ""
        print(f"power-director: internal error: {type(exc).__name__}: {exc} ({where}"
              "please report this)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
