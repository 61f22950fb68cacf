"""Error messages of the library in a command line's own words (its flags, not keywords)."""

from __future__ import annotations

import argparse
import re


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``{keyword: flag}`` for every ``--flag`` of ``parser`` and its subcommands."""
    names: dict[str, str] = {}
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:  # argparse has no public accessor for its actions
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
            for opt in action.option_strings:
                if opt.startswith("--"):
                    names[action.dest] = opt
                    names[opt[2:].replace("-", "_")] = opt
    return names


def in_flag_words(message: str, flags: dict[str, str]) -> str:
    """``message`` with Python keyword syntax turned into flags: ``method='hr'`` becomes
    ``--method hr``, ``time_limit=`` and ``time_limit`` become ``--time-limit`` (known flags
    only)."""

    def valued(m: re.Match) -> str:
        flag = flags.get(m.group(1))
        return f"{flag} {m.group(2)}" if flag else m.group(0)

    def bare(m: re.Match) -> str:
        flag = flags.get(m.group(1))
        return flag if flag else m.group(0)

    message = re.sub(r"\b(\w+)='([^']*)'", valued, message)
    message = re.sub(r"\b(\w+)=(?=[\s,.;:)]|$)", bare, message)
    # identifiers with an underscore are keywords, never words: time_limit -> --time-limit
    return re.sub(r"(?<![-\w])([a-z]+(?:_[a-z]+)+)\b", bare, message)
