from __future__ import annotations

import pytest

from livedash import PublishError
from livedash.events import encode_data, format_cursor, parse_cursor, validate_stream_name


@pytest.mark.parametrize("name", ["a", "clock", "cpu.total", "ticker-AAPL", "x_1", "9lives"])
def test_valid_stream_names(name: str) -> None:
    assert validate_stream_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "a b", "a:b", "a,b", "é", "x" * 65, None, 3])
def test_invalid_stream_names(name: object) -> None:
    with pytest.raises(PublishError, match="invalid stream name") as info:
        validate_stream_name(name)
    assert info.value.reason == "bad_stream"


@pytest.mark.parametrize("data", [[1, 2], "text", 3, None, {"x": {1, 2}}, {"x": float("nan")}])
def test_non_json_object_data_is_refused(data: object) -> None:
    with pytest.raises(PublishError) as info:
        encode_data(data)
    assert info.value.reason == "bad_data"


def test_oversize_data_is_refused_with_sizes_in_message() -> None:
    with pytest.raises(PublishError, match="over the 100-byte limit") as info:
        encode_data({"x": "y" * 200}, max_bytes=100)
    assert info.value.reason == "too_large"


def test_cursor_round_trip_and_errors() -> None:
    assert parse_cursor(format_cursor({"a": 3, "b.c": 0})) == {"a": 3, "b.c": 0}
    assert parse_cursor("") == {}
    for bad in ["a", "a:", "a:-1", ":3", "a:3,,b:2", "a b:1"]:
        with pytest.raises(ValueError, match="bad cursor part"):
            parse_cursor(bad)
