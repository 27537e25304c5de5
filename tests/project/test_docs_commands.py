"""The docs cannot drift from the command lines: every command line shown in README.md and docs/cli.md
names options its parser has, each command's ``--help`` works, the analyzer lines whose folders exist
run on them, and the usage lines in docs/cli.md are the parsers' own (scripts/cli_usage.py)."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
sys.path.insert(0, str(ROOT / "scripts"))
import cli_usage  # noqa: E402

DOCS = (ROOT / "README.md", ROOT / "docs" / "cli.md")
BIN = Path(sys.executable).parent
_COMMAND = re.compile(
    r"^\s*(?:\$ )?(?:\.venv/bin/)?(?P<prog>mlpower-(?:analyzer|director|agent|ptd))(?P<rest>(?: .*)?)$"
)
_FENCE = re.compile(r"^```")


def command_lines(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line number, program, arguments) of every command line inside a fenced block of ``path``; an
    indented line right after one continues it (hand-wrapped usage)."""
    out: list[tuple[int, str, list[str]]] = []
    inside = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            continue
        m = _COMMAND.match(line)
        if m is not None and "[-h]" not in line:  # generated usage blocks are checked whole, below
            out.append((number, m.group("prog"), _words(m.group("rest"))))
        elif m is None and out and out[-1][0] == number - 1 and line.startswith(" ") and line.strip():
            _, prog, words = out.pop()
            out.append((number, prog, words + _words(line)))
    return out


def _words(text: str) -> list[str]:
    """The words of a command line, without its comment, pipe, ``&`` and what follows a bare ``--``."""
    text = re.sub(r"\s+#\s.*$", "", text).split(" | ")[0].removesuffix(" &").strip()
    words = shlex.split(text.replace("[", " ").replace("]", " ").replace("(", " ").replace(")", " "))
    return words[: words.index("--")] if "--" in words else words


ALL_LINES = [(path, *line) for path in DOCS for line in command_lines(path)]


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def _resolve(prog: str, args: list[str]) -> tuple[argparse.ArgumentParser, str | None]:
    parser = cli_usage.parsers()[prog]()
    subs = cli_usage.subcommands(parser)
    positional = next((a for a in args if not a.startswith("-")), None)
    if subs and positional in subs:
        return subs[positional], positional
    return parser, None


def test_the_docs_show_command_lines() -> None:
    progs = {prog for _, _, prog, _ in ALL_LINES}
    assert progs >= {"mlpower-analyzer", "mlpower-director", "mlpower-agent"}, progs
    assert len(ALL_LINES) > 20


@pytest.mark.parametrize(
    ("path", "number", "prog", "args"), ALL_LINES, ids=[f"{p.name}:{n}" for p, n, _, _ in ALL_LINES]
)
def test_every_option_shown_exists(path: Path, number: int, prog: str, args: list[str]) -> None:
    parser, sub = _resolve(prog, args)
    known = _option_strings(parser) | _option_strings(cli_usage.parsers()[prog]())
    for arg in args:
        if arg.startswith("-") and not re.fullmatch(r"-\d.*", arg):  # -5 is a value, not an option
            flag = arg.split("=", 1)[0].rstrip("|,")
            assert flag in known, f"{path.name}:{number}: {prog} {sub or ''} has no option {flag}"


def test_every_command_has_working_help() -> None:
    for prog, build in cli_usage.parsers().items():
        done = subprocess.run([str(BIN / prog), "--help"], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0 and "usage:" in done.stdout, (prog, done.stderr)
        for name, sub in cli_usage.subcommands(build()).items():
            with pytest.raises(SystemExit) as exit_:
                sub.parse_args(["--help"])
            assert exit_.value.code == 0, (prog, name)


def _runnable(args: list[str]) -> bool:
    """An analyzer line whose folder arguments all exist (placeholders such as PERF_DIR do not)."""
    paths = [a for a in args if "/" in a and not a.startswith("-") and "://" not in a]
    return bool(paths) and all((ROOT / p).exists() for p in paths if not p.endswith((".html", ".csv", ".parquet")))


ANALYZER_RUNS = [(p, n, args) for p, n, prog, args in ALL_LINES if prog == "mlpower-analyzer" and _runnable(args)]


@pytest.mark.parametrize(("path", "number", "args"), ANALYZER_RUNS, ids=[f"{p.name}:{n}" for p, n, _ in ANALYZER_RUNS])
def test_analyzer_lines_run_on_the_fixtures(path: Path, number: int, args: list[str], tmp_path: Path) -> None:
    # outputs the line writes go to a temporary folder, not into the repository
    args = [str(tmp_path / Path(a).name) if a.endswith((".html", ".csv", ".parquet")) else a for a in args]
    done = subprocess.run(
        [str(BIN / "mlpower-analyzer"), *args], capture_output=True, text=True, timeout=300, check=False, cwd=ROOT
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), f"{path.name}:{number}: exit {done.returncode}: {done.stderr[-400:]}"


def test_usage_lines_in_cli_md_are_the_parsers() -> None:
    assert cli_usage.main(["--check", str(ROOT / "docs" / "cli.md")]) == 0, "run `make docs`"
