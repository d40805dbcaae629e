"""The command line's argument parser and option types: a bad option is one
line on stderr that names it ("PROG: error: argument --epochs: must be an
integer of at least 1, not '-1'") and exit status 2, never a traceback."""

import argparse
import math
import sys
from typing import Callable, NoReturn, Optional


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with one-line errors: the usage that argparse prints
    first is left to --help. Its subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def fail(prog: str, message: str, status: int = 1) -> int:
    """Print `message` as PROG's one-line error; returns the exit status."""
    print(f"{prog}: {message}", file=sys.stderr)
    return status


def integer(minimum: int, maximum: Optional[int] = None) -> Callable[[str], int]:
    """An argparse type: an integer from `minimum` to `maximum`."""
    wanted = f"an integer of at least {minimum}" + (
        f" and at most {maximum}" if maximum is not None else ""
    )

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def real(accept: Callable[[float], bool], wanted: str) -> Callable[[str], float]:
    """An argparse type: a finite number for which `accept` holds."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}") from None
        if not math.isfinite(value) or not accept(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}")
        return value

    parse.__name__ = "number"
    return parse
