"""Every code block of Getting started and the porting recipe is run, as written.

Python blocks are written out in the Markdown (so a reader on a code host sees the code, not
an include line) and name their file, ```` ```python title="examples/x.py" ````; each equals
that file, which tests/e2e/test_examples.py runs. Shell blocks are run literally from a
folder laid out like a checkout (only the port is changed, to a free one) and the page they
serve is checked in Chromium; console blocks are run and their output compared line for line
(``...`` in a shown line stands for any text, such as a temporary path).
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

from livedash.testing import free_port, serving
from tests.e2e.test_examples import CHECKS, OWN_TESTS, SEED_TEXT, Check, text_matches

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["getting-started.md", "porting.md", "howto/authentication.md", "howto/components.md"]

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
    #: the file the block shows, from its fence: ```python title="examples/x.py"
    title: str | None = None


def blocks(page: str, text: str | None = None) -> list[Block]:
    """The fenced code blocks of a docs page (or of ``text``), indented ones (in admonitions)
    included."""
    text = (ROOT / "docs" / page).read_text() if text is None else text
    found = []
    for m in re.finditer(r"^( *)```(\w*)([^\n]*)\n(.*?)^\1```", text, re.M | re.S):
        indent = len(m.group(1))
        body = "".join(line[indent:] + "\n" for line in m.group(4).splitlines())
        title = re.search(r'title="([^"]+)"', m.group(3))
        found.append(Block(page, m.group(2), body, title.group(1) if title else None))
    return found


def shown_matches(shown: str, actual: str) -> bool:
    """True when the ``actual`` output line is the ``shown`` one, ``...`` matching any text."""
    pattern = ".*?".join(re.escape(part) for part in shown.split("..."))
    return re.fullmatch(pattern, actual) is not None


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
        assert "--8<--" not in block.body, f"{block.page}: write the code out, not an include"
        if block.lang == "python" and block.title:
            assert block.title.startswith("examples/"), block
            assert block.title.removeprefix("examples/") in tested_examples, block
            assert block.body == (ROOT / block.title).read_text(), (
                f"{block.page}: the block titled {block.title} differs from that file"
            )
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
        output = (result.stdout + result.stderr).splitlines()
        assert len(output) == len(expected), (command, output)
        for shown, actual in zip(expected, output, strict=True):
            assert shown_matches(shown, actual), (command, shown, actual)


def readme_port_commands() -> list[str]:
    """The README's commands that serve its own-app example on a port of one's choosing."""
    readme = (ROOT / "README.md").read_text()
    return [
        command.split("  #")[0].strip()
        for block in blocks("README.md", readme)
        if block.lang == "sh"
        for command in commands(block)
        if "examples/readme_app.py" in command
    ]


def test_readme_shows_how_to_pick_the_port() -> None:
    shown = readme_port_commands()
    assert any(c.startswith("PORT=8060 ") for c in shown), shown
    assert any(c.endswith("--port 8060") for c in shown), shown
    readme = (ROOT / "README.md").read_text()
    assert "app.run(port=8060)" in readme


@pytest.mark.browser
@pytest.mark.parametrize("command", readme_port_commands())
def test_readme_port_command_serves_the_example_on_that_port(
    command: str, checkout: Path, context: Any
) -> None:
    port = free_port()
    with serving(command.replace("8060", str(port)), port, cwd=checkout) as url:
        page = context.new_page()
        page.goto(url)
        CHECKS["readme_app.py"](page, url)
