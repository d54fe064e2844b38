from __future__ import annotations

import pytest

from livedash import PublishError
from livedash.events import (
    Event,
    encode_data,
    format_cursor,
    parse_cursor,
    validate_stream_name,
)


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


def test_stored_event_keeps_its_text_and_decodes_on_first_read() -> None:
    text = encode_data({"é": [1, {"deep": None}], "v": 2.5})
    stored = Event.stored("s", 3, 10.0, text)
    # The stored text is the data's wire form: relayed as it is, never encoded again.
    assert stored.data_json is text
    assert stored.data == {"é": [1, {"deep": None}], "v": 2.5}
    assert stored.data is stored.data  # decoded once
    built = Event("s", 3, 10.0, {"é": [1, {"deep": None}], "v": 2.5})
    assert built.data_json == text
    assert stored == built and hash(stored) == hash(built)
    assert stored != Event("s", 3, 10.0, {"v": 3})
    assert repr(stored) == repr(built)
    with pytest.raises(AttributeError, match="immutable"):
        stored.seq = 4
