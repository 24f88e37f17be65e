"""The payload parser reads what the standard library reads, and refuses hostile JSON cheaply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livebot.github.payloads import ID, MAX_ID, PayloadError, check, parse
from tests.support import FIXTURES

FIXTURE_FILES = sorted(FIXTURES.glob("*/*.json"))

# JSON values as GitHub may send them: 64-bit integers, finite floats, any text, nesting.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 and 1.0 and True differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_every_real_payload_parses_as_the_standard_library_reads_it() -> None:
    assert len(FIXTURE_FILES) >= 30
    for path in FIXTURE_FILES:
        raw = path.read_bytes()
        assert same(parse(raw), json.loads(raw)), path.relative_to(FIXTURES)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_a_real_payload_re_encoded_compactly_or_as_ascii_parses_the_same(path: Path) -> None:
    data = json.loads(path.read_bytes())
    for raw in (json.dumps(data, separators=(",", ":")), json.dumps(data, ensure_ascii=True)):
        assert same(parse(raw.encode()), data)


@given(st.dictionaries(st.text(), JSON_VALUES, max_size=8), st.booleans())
def test_any_json_object_parses_as_the_standard_library_reads_it(
    data: dict[str, Any], ascii_only: bool
) -> None:
    raw = json.dumps(data, ensure_ascii=ascii_only).encode()
    assert same(parse(raw), json.loads(raw))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": Infinity}',
        b'{"id": NaN}',
        b'{"id": 1e999}',
        b'{"id": ' + b"7" * 5000 + b"}",
        b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"x": "\xff\xfe"}',
        b'{"x": 1} trailing',
        b"[1, 2]",
        b"",
    ],
    ids=[
        "Infinity",
        "NaN",
        "1e999",
        "5000 digits",
        "100k deep",
        "bad UTF-8",
        "trailing",
        "array",
        "empty",
    ],
)
def test_hostile_or_non_object_json_is_a_payload_error(raw: bytes) -> None:
    with pytest.raises(PayloadError, match=r"^body is not"):
        parse(raw)


@pytest.mark.parametrize("number", [MAX_ID, 2**63, 2**64 - 1, 2**64, 10**30])
def test_a_number_past_the_safe_range_is_never_an_id(number: int) -> None:
    data = parse(b'{"installation": {"id": %d}}' % number)
    with pytest.raises(PayloadError, match=r"`installation\.id`"):
        check(data, {"installation.id": ID}, common=False)


def test_the_largest_safe_id_is_an_id() -> None:
    data = parse(b'{"installation": {"id": %d}}' % (MAX_ID - 1))
    check(data, {"installation.id": ID}, common=False)
    assert data["installation"]["id"] == MAX_ID - 1
