"""The docs site builds in strict mode, and what it shows is what the tests run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MKDOCS = Path(sys.executable).parent / "mkdocs"


def _build(site: Path, config: Path = ROOT / "mkdocs.yml") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
    )


def test_docs_build_strict(tmp_path: Path) -> None:
    result = _build(tmp_path / "site")
    assert result.returncode == 0, result.stderr
    # The snippets were included (not left as --8<-- lines), and the reference was generated.
    started = (tmp_path / "site" / "getting-started" / "index.html").read_text()
    assert "read_sensor" in started and "--8&lt;--" not in started
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    for name in ("Hub", "publish_many", "LiveText", "LiveGraph", "PublishError"):
        assert f'id="livedash.{name}' in reference or f'id="livedash.Hub.{name}' in reference
    assert ":class:`" not in reference  # Sphinx roles are rewritten as code


def test_strict_build_fails_on_a_broken_link(tmp_path: Path) -> None:
    # Strict mode is what makes a broken link fail; check that it really does.
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    (docs / "concepts.md").write_text(
        (docs / "concepts.md").read_text() + "\nSee [nowhere](no-such-page.md).\n"
    )
    config = tmp_path / "mkdocs.yml"
    text = (ROOT / "mkdocs.yml").read_text().replace("docs_dir: docs", f"docs_dir: {docs}")
    # Paths in mkdocs.yml are relative to its folder: point them back at the repository.
    for rel in ("docs/griffe_rst_roles.py", "- examples", "- src/livedash", "[src]"):
        text = text.replace(rel, rel.replace(rel.strip("-[] "), str(ROOT / rel.strip("-[] "))))
    config.write_text(text)
    result = _build(tmp_path / "site", config)
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr


def test_every_shown_file_is_written_out_verbatim_and_tested() -> None:
    """Pages show files in full, in the Markdown itself (a reader on a code host sees the
    code, where an include line would show nothing), under a fence that names the file:
    ```python title="examples/x.py"; each such block equals its file, and every example
    shown is one the tests run."""
    from tests.docs.test_pages import blocks
    from tests.e2e.test_examples import CHECKS, OWN_TESTS

    shown: dict[str, list[str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text()
        name = str(page.relative_to(DOCS))
        assert "--8<--" not in text, f"{name}: write the file out instead of an include line"
        for block in blocks(name, text):
            if block.title is None:
                continue
            assert (ROOT / block.title).is_file(), (name, block.title)
            assert block.body == (ROOT / block.title).read_text(), (
                f"{name}: the block titled {block.title} differs from that file"
            )
            shown.setdefault(block.title, []).append(name)
    examples = {p.removeprefix("examples/") for p in shown if p.startswith("examples/")}
    assert examples <= set(CHECKS) | OWN_TESTS
    # The newcomer's first app is on Getting started, in full.
    assert "getting-started.md" in shown["examples/readme_app.py"]
