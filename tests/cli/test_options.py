"""The command behaves like the tools people know: options anywhere, help with
descriptions and defaults, text logs on a terminal and JSON otherwise."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edgecascade.cli import build_parser
from edgecascade.logs import JsonFormatter, TextFormatter, setup_logging
from edgecascade.tools.broker import free_port

from .conftest import gateway_toml


def subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from subcommands(sub, (*path, name))


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_before_or_after_the_subcommand(where: str) -> None:
    opts = ["--log-level", "debug", "--log-format", "json"]
    rest = ["gateway", "--config", "g.toml"]
    args = build_parser().parse_args(opts + rest if where == "before" else rest + opts)
    assert (args.log_level, args.log_format, args.config) == ("debug", "json", "g.toml")


def test_global_options_in_a_nested_subcommand_and_defaults() -> None:
    args = build_parser().parse_args(["models", "registry", "--log-level", "warning"])
    assert args.log_level == "warning" and args.log_format == "auto"
    args = build_parser().parse_args(["gateway", "--config", "g.toml"])
    assert (args.log_level, args.log_format) == ("info", "auto")


def test_every_subcommand_has_a_description_and_shows_its_defaults() -> None:
    found = dict(subcommands(build_parser()))
    assert {("gateway",), ("cloud-worker",), ("devices",), ("serial-bridge",), ("status",),
            ("demo",), ("models",), ("models", "train")} <= set(found)
    for path, parser in found.items():
        assert parser.description and "``" not in parser.description, path
        text = parser.format_help()
        assert "``" not in text and ":class:" not in text, path
        for action in parser._actions:
            if action.help in (None, argparse.SUPPRESS) or isinstance(
                    action, argparse._SubParsersAction):
                continue
            assert action.help.strip(), (path, action.dest)
            meaningful = action.default not in (None, False, [], argparse.SUPPRESS)
            if meaningful and not isinstance(action, argparse._HelpAction):
                assert "default" in parser._get_formatter()._expand_help(action), (
                    path, action.dest)


def test_models_help_is_plain_text() -> None:
    out = subprocess.run([sys.executable, "-m", "edgecascade.cli", "models", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "``" not in out and "Rebuild the three model tiers" in out


def test_text_logs_on_a_terminal_and_json_otherwise() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, fmt, formatter in ((Tty(), "auto", TextFormatter), (io.StringIO(), "auto",
                                   JsonFormatter), (Tty(), "json", JsonFormatter)):
        setup_logging("info", fmt, stream=stream)
        assert isinstance(logging.getLogger().handlers[0].formatter, formatter)
        logging.getLogger("edgecascade.x").info("hello", extra={"broker": "mqtt://h"})
        line = stream.getvalue().strip()
        if formatter is JsonFormatter:
            assert json.loads(line)["broker"] == "mqtt://h"
        else:
            assert line.endswith("INFO    x: hello  broker=mqtt://h")


def _first_log_line(tmp_path: Path, *, tty: bool, extra: tuple[str, ...] = ()) -> str:
    """The first stderr line of a gateway waiting for an absent broker."""
    config = gateway_toml(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    master, slave = pty.openpty() if tty else os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "edgecascade.cli", "gateway", "--config",
                             str(config), "--wait", *extra], stderr=slave,
                            stdout=subprocess.DEVNULL)
    os.close(slave)
    try:
        with open(master, "rb", buffering=0) as err:
            line = b""
            while not line.endswith(b"\n"):
                chunk = err.read(1)
                assert chunk, "stderr closed before a log line"
                line += chunk
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    return line.decode().strip()


def test_a_real_terminal_gets_text_a_pipe_gets_json(tmp_path: Path) -> None:
    text = _first_log_line(tmp_path, tty=True)
    assert "WARNING" in text and "site broker not reachable" in text
    assert not text.startswith("{")
    record = json.loads(_first_log_line(tmp_path, tty=False))
    assert record["level"] == "warning" and record["why"] == "connection refused"
    forced = json.loads(_first_log_line(tmp_path, tty=True, extra=("--log-format", "json")))
    assert forced["logger"] == "edgecascade.probe"
