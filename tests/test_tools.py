"""The repository snapshot and the read-only tools: paths, caps, searches, errors for the model."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

from livebot.code.snapshots import MAX_FILE_BYTES, Snapshot, TarballTooLarge, parse_tarball
from livebot.llm.tools import (
    MAX_LISTED,
    MAX_READ_LINES,
    Tool,
    ToolError,
    clean_path,
    repository_tools,
)


def tarball(files: dict[str, bytes], top: str = "octo-hello-0123abc") -> bytes:
    """A gzip tarball as GitHub serves it: one top folder holding the files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


FILES = {
    "README.md": b"# Hello\n",
    "bot/router.py": b"".join(f"line {n}\n".encode() for n in range(1, 213)),
    "bot/app.py": b"import os\nTOKEN = os.environ['X']\n",
    "logo.png": b"\x89PNG\r\n\x1a\n\0\0binary",
    "big.txt": b"x" * (MAX_FILE_BYTES + 1),
}


def tools_for(snapshot: Snapshot) -> dict[str, Tool]:
    async def files() -> Snapshot:
        return snapshot

    return {tool.name: tool for tool in repository_tools(files)}


@pytest.fixture
def tools() -> dict[str, Tool]:
    return tools_for(parse_tarball("octo/hello", "0123abc", tarball(FILES)))


async def call(tools: dict[str, Tool], name: str, **arguments: Any) -> Any:
    return await tools[name].run(arguments)


def test_the_tarball_keeps_text_and_names_what_it_skipped() -> None:
    snapshot = parse_tarball("octo/hello", "0123abc", tarball(FILES))
    assert sorted(snapshot.texts) == ["README.md", "bot/app.py", "bot/router.py"]
    assert snapshot.skipped["logo.png"] == "binary"
    assert snapshot.skipped["big.txt"].startswith("too large to read")
    assert snapshot.paths == sorted(FILES)


@pytest.mark.parametrize("raw", ["../x", "/etc/passwd", "a/../../b", "~/x", "a\\b", "a\0b", 3])
def test_paths_that_leave_the_repository_are_refused(raw: Any) -> None:
    with pytest.raises(ToolError):
        clean_path(raw)


def test_clean_paths_are_normalised() -> None:
    assert clean_path("./bot//router.py") == "bot/router.py"
    assert clean_path("", allow_root=True) == ""


async def test_read_file_numbers_lines_and_says_what_it_read(tools: dict[str, Tool]) -> None:
    result = await call(tools, "read_file", path="bot/router.py")
    assert result.summary == "212 lines of bot/router.py"
    assert result.content.splitlines()[0] == "    1  line 1"
    part = await call(tools, "read_file", path="bot/router.py", start_line=10, end_line=12)
    assert part.summary == "lines 10–12 of bot/router.py"
    assert part.content.splitlines() == ["   10  line 10", "   11  line 11", "   12  line 12"]


async def test_read_file_is_capped_and_says_where_to_go_on() -> None:
    long = {"long.py": b"".join(b"x\n" for _ in range(MAX_READ_LINES * 2))}
    tools = tools_for(parse_tarball("o/r", "s", tarball(long)))
    result = await call(tools, "read_file", path="long.py")
    assert len(result.content.splitlines()) == MAX_READ_LINES + 1
    assert f"ask for start_line {MAX_READ_LINES + 1}" in result.content


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"path": "logo.png"}, "logo.png is binary"),
        ({"path": "nope.py"}, "nope.py does not exist at 0123abc"),
        ({"path": "../secrets"}, "leaves the repository"),
        ({"path": "README.md", "start_line": 0}, "positive line number"),
        ({"path": "README.md", "start_line": 9}, "past the end"),
    ],
)
async def test_read_file_errors_are_told_to_the_model(
    tools: dict[str, Tool], arguments: dict[str, Any], error: str
) -> None:
    with pytest.raises(ToolError, match=error):
        await tools["read_file"].run(arguments)


async def test_list_files_by_folder_and_glob(tools: dict[str, Tool]) -> None:
    result = await call(tools, "list_files", path="bot")
    assert result.content.splitlines() == ["bot/app.py", "bot/router.py"]
    assert result.summary == "2 files under bot/"
    assert (await call(tools, "list_files", pattern="*.md")).content == "README.md"
    with pytest.raises(ToolError, match="no files under"):
        await call(tools, "list_files", path="nowhere")


async def test_list_files_is_capped() -> None:
    many = {f"f{n:04}.txt": b"x" for n in range(MAX_LISTED + 5)}
    tools = tools_for(parse_tarball("o/r", "s", tarball(many)))
    result = await call(tools, "list_files")
    assert result.content.endswith("[…5 more files not listed]")


async def test_search_code_finds_lines_with_paths_and_numbers(tools: dict[str, Tool]) -> None:
    result = await call(tools, "search_code", query=r"os\.environ")
    assert result.content == "bot/app.py:2: TOKEN = os.environ['X']"
    assert result.summary == "1 matches for `os\\.environ` in 1 files"
    literal = await call(tools, "search_code", query="environ['X", path="bot/*")
    assert literal.content.startswith("bot/app.py:2:")


def test_a_tarball_that_inflates_past_its_cap_is_given_up_before_it_is_inflated() -> None:
    """A compression bomb: the headers' sizes are counted before any file is inflated."""
    bomb = tarball({"a.bin": b"\0" * 3_000_000, "b.txt": b"text\n"})
    assert len(bomb) < 10_000  # small on the wire
    with pytest.raises(TarballTooLarge, match="bytes unpacked"):
        parse_tarball("o/r", "s", bomb, max_unpacked=1_000_000)
    assert "b.txt" in parse_tarball("o/r", "s", bomb).texts
