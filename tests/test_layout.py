"""The package's layout and its arrows: which sub-package may import which, read from the source."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parent.parent
PACKAGE: Final = ROOT / "livebot"
# The webhook path and the live pages: what `livebot web` loads.
WEB_ENTRY: Final = "livebot.web.app"
MODEL_CLIENTS: Final = ("openai", "livebot.llm.client", "livebot.llm.conversation")


def module_name(path: Path) -> str:
    """`livebot/web/app.py` -> `livebot.web.app`; a package's `__init__.py` names the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def graph() -> dict[str, frozenset[str]]:
    """Every module of the package and what it imports at module level (ours, and third parties'
    top-level names), `TYPE_CHECKING` blocks excluded: they load nothing at run time."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, frozenset[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    found.add(child if child in modules else node.module)
        edges[name] = frozenset(found)
    return edges


def _runtime_nodes(tree: ast.Module) -> list[ast.stmt]:
    """Module-level statements, skipping `if TYPE_CHECKING:` blocks (functions' imports count)."""
    nodes: list[ast.stmt] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
        if isinstance(node, ast.Import | ast.ImportFrom):
            nodes.append(node)
    return nodes


def reachable(start: str) -> dict[str, str]:
    """Every module `start` loads, each with the module that imported it first (for messages)."""
    edges = graph()
    parents: dict[str, str] = {start: ""}
    todo = [start]
    while todo:
        current = todo.pop()
        for target in sorted(edges.get(current, ())):
            for name in _with_parents(target):
                if name not in parents:
                    parents[name] = current
                    todo.append(name)
    return parents


def _with_parents(module: str) -> list[str]:
    """Importing `a.b.c` runs `a`, `a.b` and `a.b.c`."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def chain(parents: dict[str, str], end: str) -> str:
    """The import chain that reached `end`, for a failure message."""
    steps = [end]
    while parents.get(steps[-1]):
        steps.append(parents[steps[-1]])
    return " -> ".join(reversed(steps))


def test_one_top_level_package() -> None:
    """The wheel installs `livebot` and nothing else (no `bot`, no `web`)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'include = ["livebot", "livebot.*"]' in pyproject
    assert not (ROOT / "bot").exists() and not (ROOT / "web").exists()


def test_nothing_imports_the_web_tier() -> None:
    """`livebot.web` is a leaf: only the composition root (`livebot.cli`) builds it."""
    offenders = {
        name: sorted(t for t in targets if t.startswith("livebot.web"))
        for name, targets in graph().items()
        if not name.startswith("livebot.web") and name != "livebot.cli"
    }
    assert {name: t for name, t in offenders.items() if t} == {}


def test_the_web_tier_never_loads_the_model_client() -> None:
    """The webhook path and the live pages load neither `openai` nor the model client."""
    parents = reachable(WEB_ENTRY)
    loaded = [chain(parents, name) for name in MODEL_CLIENTS if name in parents]
    assert loaded == []


def test_core_imports_nothing_of_ours() -> None:
    """`livebot.core` is the bottom: settings, logs, metrics, helpers."""
    offenders = {
        name: sorted(
            t for t in targets if t.startswith("livebot.") and not t.startswith("livebot.core")
        )
        for name, targets in graph().items()
        if name.startswith("livebot.core")
    }
    assert {name: t for name, t in offenders.items() if t} == {}


def test_the_model_loop_and_the_code_tools_know_no_run() -> None:
    """`livebot.llm` and `livebot.code` serve runs through narrow arguments and protocols: they
    import neither `livebot.runs` nor `livebot.workflows`."""
    offenders = {
        name: sorted(t for t in targets if t.startswith(("livebot.runs", "livebot.workflows")))
        for name, targets in graph().items()
        if name.startswith(("livebot.llm", "livebot.code"))
    }
    assert {name: t for name, t in offenders.items() if t} == {}


def test_only_the_orchestration_imports_the_run() -> None:
    """The `Run` is for the workflows' entry points (the modules whose functions the registry
    runs), the queue that runs them and the CLI; helpers take what they use."""
    from livebot.queue.registry import WORKFLOWS

    entries = {workflow.run.__module__ for workflow in WORKFLOWS}
    allowed = {name for name in graph() if name.startswith("livebot.queue.")} | entries
    importers = {name for name, targets in graph().items() if "livebot.runs.execution" in targets}
    assert importers - allowed - {"livebot.cli"} == set()


def test_livebot_web_loads_neither_openai_nor_psycopg() -> None:
    """As `livebot web` starts: the command and the web app leave `openai` unloaded (the workers
    and `livebot check` import it when they start), and psycopg (loaded with an archive only)."""
    code = (
        "import sys, livebot.cli, livebot.web.app, livebot.services; "
        "print(sorted({'openai', 'psycopg', 'psycopg_pool'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# A path of this checkout: not `.livebot/…` (the data folder) nor `x/livebot/…`.
DOC_PATH = re.compile(r"(?<![\w./-])livebot/[\w/.-]*\w")


@pytest.mark.parametrize(
    "doc",
    [
        "README.md",
        "docs/architecture.md",
        "docs/deployment.md",
        "docs/fanout.md",
        "docs/archive.md",
        "docs/models.md",
    ],
)
def test_every_path_the_docs_name_exists(doc: str) -> None:
    """A `livebot/...` path in the docs is a file or folder of this checkout."""
    text = (ROOT / doc).read_text()
    missing = sorted(
        {
            path
            for path in DOC_PATH.findall(text)
            if not path.startswith("livebot/issue")  # resolve's branch names, not files
            and "NNNN" not in path  # a pattern: migrations are named NNNN_name.sql
            and not (ROOT / path).exists()
        }
    )
    assert missing == []


@pytest.mark.parametrize(
    "doc",
    [
        "README.md",
        "CHANGELOG.md",
        *(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
    ],
)
def test_code_fences_open_and_close_on_lines_of_their_own(doc: str) -> None:
    """A fence closed by a line with text after it swallows the rest of the page on GitHub."""
    fences = [
        (number, line)
        for number, line in enumerate((ROOT / doc).read_text().splitlines(), 1)
        if line.lstrip().startswith("```")
    ]
    opening = True
    for number, line in fences:
        info = line.lstrip()[3:]
        if opening:
            assert re.fullmatch(r"[\w+-]*", info), f"{doc}:{number}: {line!r}"
        else:
            assert info.strip() == "", f"{doc}:{number}: a closing fence with text: {line!r}"
        opening = not opening
    assert opening, f"{doc}: a code fence is never closed"
