"""Dependencies point inward (web -> kb <- ingest), and nothing heavy happens at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The CLI is the composition root: it may import ingest and web, inside command functions only.
COMPOSITION_ROOTS = set((ROOT / "kb" / "cli").glob("*.py"))


def imported_modules(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_kb_never_imports_flask_web_or_ingest():
    for path in (ROOT / "kb").rglob("*.py"):
        top_only = path in COMPOSITION_ROOTS
        for name in imported_modules(path, top_level_only=top_only):
            root = name.split(".")[0]
            assert root not in {"flask", "werkzeug", "web", "ingest"}, f"{path.relative_to(ROOT)} imports {name}"


def test_ingest_never_imports_web_or_flask():
    for path in (ROOT / "ingest").rglob("*.py"):
        for name in imported_modules(path, top_level_only=False):
            assert name.split(".")[0] not in {"flask", "werkzeug", "web"}, f"{path.relative_to(ROOT)} imports {name}"


def test_cli_import_is_light():
    """`kb --help` must not load the model stack: torch and sentence-transformers cost seconds."""
    code = (
        "import sys, kb.cli, kb.knowledge_base, ingest.crawler, web;"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def test_cli_entry_point_loads_no_storage_or_search_stack():
    """`kb` starts by importing every command module: none may pull the database, index or model libraries
    at import time (each costs 0.1-0.3 s of every command's cold start; `kb search` must answer in 1.5 s)."""
    code = (
        "import sys, kb.cli;"
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'scipy', 'bm25s', 'faiss', 'onnxruntime', 'numpy', 'flask')"
        " if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""
