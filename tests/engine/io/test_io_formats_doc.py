"""Every Python snippet in docs/formats.md writes a file that ptyxanes reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "formats.md"


def _snippets() -> list[str]:
    if not DOC.exists():
        return []
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_doc_has_one_snippet_per_format():
    assert len(_snippets()) == 5


@pytest.mark.parametrize("index", range(5))
def test_snippet_runs(tmp_path, monkeypatch, index):
    snippets = _snippets()
    if index >= len(snippets):
        pytest.fail(f"docs/formats.md has only {len(snippets)} snippets")
    monkeypatch.chdir(tmp_path)
    exec(compile(snippets[index], f"formats.md snippet {index + 1}", "exec"), {})
    assert any(tmp_path.iterdir())
