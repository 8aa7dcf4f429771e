"""Help text that answers "what is the default?" for every option of every command."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator, Sequence


class DefaultsFormatter(argparse.RawDescriptionHelpFormatter):
    """Help that shows each option's default, where it has a meaningful one; descriptions and
    epilogs (the rule-set table) keep their lines."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default in (None, [], False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def with_defaults(parser: argparse.ArgumentParser) -> None:
    """Every command's help shows each option's default."""
    parser.formatter_class = DefaultsFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                with_defaults(sub)


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


class LazyVersion(argparse.Action):
    """``--version``: the installed version, read from the package's metadata only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 help: str = "print the version and exit") -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from reports.version import tool_version

        print(f"{parser.prog} {tool_version()}")
        parser.exit()


class LazyChoices(Sequence[str]):
    """An option's choices that live in a module too heavy to import for ``--help`` (a driver,
    a simulator): loaded the first time argparse checks a value or prints them."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def _load(self) -> Sequence[str]:
        return tuple(getattr(importlib.import_module(self.module), self.name))

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        return self._load()[index]

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, value: object) -> bool:
        return value in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())


#: Old spellings kept for one release: (command, old option or command) -> the new name.
RENAMED: dict[tuple[str, str], str] = {}


def old_spelling(command: str, parser: argparse.ArgumentParser, action: argparse.Action, old: str) -> None:
    """``old`` still works for ``action`` but appears in no help, usage or error text: argparse
    looks options up in ``_option_string_actions``, and help lists ``option_strings`` only."""
    parser._option_string_actions[old] = action
    RENAMED[(command, old)] = action.option_strings[0]


def old_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], old: str, new: str) -> None:
    """``old`` still runs command ``new`` but is listed nowhere (the usage shows COMMAND)."""
    commands._name_parser_map[old] = commands._name_parser_map[new]
    RENAMED[("", old)] = new


def renamed_notes(argv: Sequence[str]) -> list[str]:
    """A note for each old spelling in ``argv`` (up to ``--``, where a workload's own begin)."""
    words = list(argv[: argv.index("--")] if "--" in argv else argv)
    command = next((w for w in words if not w.startswith("-")), "")
    notes = []
    if ("", command) in RENAMED:
        notes.append(f"'{command}' is now '{RENAMED[('', command)]}'")
        command = RENAMED[("", command)]
    for word in words:
        new = RENAMED.get((command, word.split("=", 1)[0]))
        if new is not None:
            notes.append(f"{word.split('=', 1)[0]} is now {new}")
    return [f"{note} (the old spelling goes in the next release)" for note in notes]
