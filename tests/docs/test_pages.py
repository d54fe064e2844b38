"""Every code block of Getting started and the porting recipe is run, as written.

Python blocks are included from examples/ (tests/e2e/test_examples.py runs those files);
shell blocks are run literally from a folder laid out like a checkout (only the port is
changed, to a free one) and the page they serve is checked in Chromium; console blocks are
run and their output compared line for line.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.docs.serving import serving
from tests.e2e.test_examples import CHECKS, OWN_TESTS, SEED_TEXT, Check, text_matches

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["getting-started.md", "porting.md"]

SEED = text_matches("#live-update-text", SEED_TEXT)
#: every shell command the pages show, and what the page it serves must show
SERVER_COMMANDS: dict[str, Check] = {
    "make run": SEED,
    ".venv/bin/livedash run seed --transport poll --port 8051": SEED,
    ".venv/bin/python examples/readme_app.py": CHECKS["readme_app.py"],
    ".venv/bin/livedash run examples/porting/recipe.py": SEED,
    ".venv/bin/livedash run examples/porting/live.py --port 8051": SEED,
}
#: the Dash 1 imports the porting page shows; test_console_blocks puts them in a file
OLD_IMPORTS = "import dash_core_components as dcc\nimport dash_html_components as html\n"


@dataclass
class Block:
    page: str
    lang: str
    body: str


def blocks(page: str) -> list[Block]:
    """The fenced code blocks of a docs page, indented ones (in admonitions) included."""
    text = (ROOT / "docs" / page).read_text()
    found = []
    for m in re.finditer(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", text, re.M | re.S):
        indent = len(m.group(1))
        body = "".join(line[indent:] + "\n" for line in m.group(3).splitlines())
        found.append(Block(page, m.group(2), body))
    return found


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks(page)]


def commands(block: Block) -> list[str]:
    return [line for line in block.body.splitlines() if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like the top of a checkout: the real .venv, Makefile and
    pyproject.toml (linked) and a copy of examples/, so servers write their databases here."""
    # `make run` installs when pyproject.toml is newer than the venv's stamp; do that here, in
    # the real checkout, so that it never installs from the copy.
    subprocess.run(
        ["make", "-s", ".venv/.run-deps"], cwd=ROOT, check=True, timeout=110, capture_output=True
    )
    work = tmp_path_factory.mktemp("checkout")
    for name in (".venv", "Makefile", "pyproject.toml"):
        (work / name).symlink_to(ROOT / name)
    shutil.copytree(
        ROOT / "examples", work / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    return work


def test_every_block_is_run() -> None:
    tested_examples = set(CHECKS) | OWN_TESTS
    for block in all_blocks():
        include = re.fullmatch(r'--8<-- "examples/(.+)"\n', block.body)
        if block.lang == "python" and include:
            assert include.group(1) in tested_examples, block
        elif block.lang == "sh":
            for command in commands(block):
                assert command in SERVER_COMMANDS, f"{block.page}: no test runs {command!r}"
        elif block.lang == "console":
            assert block.body.startswith("$ "), block
        else:
            assert block.lang == "python" and block.body == OLD_IMPORTS, block
    shown = {c for b in all_blocks() if b.lang == "sh" for c in commands(b)}
    assert shown == set(SERVER_COMMANDS), "a tested command is no longer on the pages"


@pytest.mark.browser
@pytest.mark.parametrize("command", sorted(SERVER_COMMANDS))
def test_server_command_goes_live(command: str, checkout: Path, context: Any) -> None:
    port = free_port()
    literal = command.replace("--port 8051", f"--port {port}")
    with serving(literal, port, cwd=checkout, env={"PORT": str(port)}) as url:
        page = context.new_page()
        page.goto(url)
        SERVER_COMMANDS[command](page, url)


def test_console_blocks(checkout: Path) -> None:
    consoles = [b for b in all_blocks() if b.lang == "console"]
    assert consoles
    # The porting page's Dash 1 file: the recipe with the two old imports the page shows.
    recipe = (checkout / "examples" / "porting" / "recipe.py").read_text()
    new_import = "from dash import Dash, Input, Output, dcc, html\n"
    assert new_import in recipe
    old = recipe.replace(new_import, "from dash import Dash, Input, Output\n" + OLD_IMPORTS)
    (checkout / "old_recipe.py").write_text(old)
    for block in consoles:
        command, *expected = block.body.splitlines()
        result = subprocess.run(
            shlex.split(command.removeprefix("$ ")),
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if k != "PORT"},
        )
        assert (result.stdout + result.stderr).splitlines() == expected
