"""``livedash run path/to/app.py``: a user's own Dash file, served like a built-in app."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from livedash.cli import build_parser
from livedash.testing import free_port, serving
from tests.cli_process import one_line_error, run_cli


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livedash.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_old_dash_imports_get_the_fix_in_one_line(tmp_path: Path) -> None:
    for old in ("dash_core_components as dcc", "dash_html_components as html"):
        app = tmp_path / "recipe.py"
        app.write_text(f"import dash\nimport {old}\napp = dash.Dash(__name__)\n")
        line = _one_line_error(_run("run", str(app), cwd=tmp_path))
        assert old.split()[0] in line
        assert "from dash import dcc, html" in line


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    line = _one_line_error(_run("run", "nowhere/app.py", cwd=tmp_path))
    assert "no such file: nowhere/app.py" in line


def test_file_without_a_dash_app_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_text("x = 1\n")
    line = _one_line_error(_run("run", "empty.py", cwd=tmp_path))
    assert "no Dash app" in line and "app = Dash(__name__)" in line


def test_other_import_errors_keep_their_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import no_such_module_here\n")
    result = _run("run", "broken.py", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "no_such_module_here" in result.stderr


def test_a_syntax_error_is_one_line_naming_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "typo.py").write_text("from dash import Dash\napp = Dash(__name__)\nif app\n")
    line = one_line_error(run_cli("run", "typo.py", cwd=tmp_path))
    assert line.startswith("livedash: error: syntax error in typo.py, line 3: "), line
    assert line.endswith(": if app"), line
    # In a module the file imports, the line names that module and says who imported it.
    (tmp_path / "main.py").write_text("import typo\n")
    line = one_line_error(run_cli("run", "main.py", cwd=tmp_path))
    assert line.startswith("livedash: error: cannot import main.py: syntax error in "), line
    assert f"{tmp_path / 'typo.py'}, line 3: " in line


def test_the_store_printed_is_the_one_the_apps_hub_uses(tmp_path: Path) -> None:
    (tmp_path / "own.py").write_text(
        textwrap.dedent(
            f"""
            from dash import Dash, html
            from livedash import Hub

            hub = Hub("sqlite:///{tmp_path / "own.db"}")
            app = Dash(__name__)
            app.layout = html.Div("own store")
            hub.init_app(app)
            """
        )
    )
    port = str(free_port())
    with subprocess.Popen(
        [sys.executable, "-m", "livedash.cli", "run", "own.py", "--port", port],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stderr is not None
            # The line is printed before serving starts; read up to it.
            for line in proc.stderr:
                if "serving own.py" in line:
                    break
            else:
                raise AssertionError(f"no serving line; exit {proc.wait()}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert f"store sqlite:///{tmp_path / 'own.db'})" in line
    assert "livedash.db" not in line


def test_users_file_is_served_with_its_assets_and_sibling_modules(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "assets").mkdir(parents=True)
    (project / "assets" / "site.css").write_text("h1 { color: rebeccapurple; }\n")
    (project / "labels.py").write_text('TITLE = "Hello from a sibling module"\n')
    (project / "dashboard.py").write_text(
        textwrap.dedent(
            """
            from dash import Dash, html
            from labels import TITLE
            from livedash import Hub, LiveText

            hub = Hub("memory://")
            app = Dash(__name__)
            app.layout = html.Div([html.H1(TITLE), LiveText("clock", "{value}", id="t")])
            hub.init_app(app)

            if __name__ == "__main__":
                raise SystemExit("livedash run must import the file, not run it as __main__")
            """
        )
    )
    port = free_port()
    argv = [sys.executable, "-m", "livedash.cli", "run", "project/dashboard.py"]
    with serving([*argv, "--port", str(port)], port, cwd=tmp_path) as url:
        page = urllib.request.urlopen(url + "/", timeout=10).read().decode()
        assert "assets/site.css" in page  # Dash found the file's own assets/ folder
        assert "/livedash/static/livedash.js" in page
        layout = json.load(urllib.request.urlopen(url + "/_dash-layout", timeout=10))
        assert "Hello from a sibling module" in json.dumps(layout)
        health = json.load(urllib.request.urlopen(url + "/livedash/health", timeout=10))
        assert health["store"] == "ok"


def test_port_defaults_to_the_port_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8123")
    assert build_parser().parse_args(["run"]).port == 8123
    assert build_parser().parse_args(["run", "--port", "9000"]).port == 9000
    monkeypatch.delenv("PORT")
    assert build_parser().parse_args(["run"]).port == 8050


def test_unguarded_app_run_does_not_block_or_take_the_port(tmp_path: Path) -> None:
    # The README's own app calls app.run() at module level; livedash run still serves it on
    # the port it was given (Dash's own port is taken here, so serving there would fail).
    (tmp_path / "unguarded.py").write_text(
        "from dash import Dash, html\n"
        "app = Dash(__name__)\n"
        "app.layout = html.Div('unguarded', id='x')\n"
        "app.run()\n"
    )
    port = free_port()
    argv = [sys.executable, "-m", "livedash.cli", "run", "unguarded.py", "--port", str(port)]
    with serving(argv, port, cwd=tmp_path, env={"PORT": "1"}) as url:
        layout = json.load(urllib.request.urlopen(url + "/_dash-layout", timeout=10))
        assert "unguarded" in json.dumps(layout)
