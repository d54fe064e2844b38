"""Hypothesis strategies for hostile requests to the transport routes.

The strategies mix plausible input (valid stream names, well-formed events) with the kinds of
garbage a stranger sends: invalid UTF-8, lone surrogates, NaN, huge numbers, deep nesting,
control characters, names that are almost valid, and headers that almost authenticate.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

TOKEN = "hostile-test-token-0123456789"
#: Streams the test apps let tabs read (see ``READABLE`` patterns).
READABLE = ["pub", "pub.*", "seed"]
OPEN_STREAMS = ["pub", "pub.a", "pub.b-1", "seed"]
PRIVATE_STREAMS = ["private", "admin.log", "pubx"]
VALID_STREAMS = OPEN_STREAMS + PRIVATE_STREAMS

#: Names that look valid to a careless check: trailing newline (``$`` matches before it),
#: separators used by the cursor syntax, the longest allowed name and one over it.
TRICKY_NAMES = [
    "pub\n",
    "pub.a\n",
    "pub\r\n",
    "pub\x00",
    "pub:1",
    "pub,seed",
    " pub",
    "pub ",
    ".pub",
    "-pub",
    "a" * 64,
    "a" * 65,
    "pub/../private",
    "pub\u2028",
    "\uff50\uff55\uff42",  # fullwidth "pub"
    "",
]

_surrogate_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=20)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    _surrogate_text,
    st.sampled_from(["<script>alert(1)</script>", "\x00", "\u202e", "'\"`", "}\n\ndata: x"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)

stream_names = st.one_of(
    st.sampled_from(VALID_STREAMS),
    st.sampled_from(TRICKY_NAMES),
    st.text(max_size=70),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,70}", fullmatch=True),
)
stream_fields = st.one_of(stream_names, json_scalars, st.lists(st.sampled_from(VALID_STREAMS)))

event_objects = st.fixed_dictionaries(
    {
        "stream": stream_fields,
        "data": st.one_of(
            st.dictionaries(st.text(max_size=8), json_values, max_size=5), json_values
        ),
    }
)
event_items = st.one_of(
    event_objects,
    event_objects,
    json_values,
    st.fixed_dictionaries({"stream": stream_fields}),
    st.fixed_dictionaries({"data": json_values}),
)
documents = st.one_of(
    event_items,
    st.fixed_dictionaries({"events": st.lists(event_items, max_size=6)}),
    st.fixed_dictionaries({"events": json_values}),
    st.fixed_dictionaries({"events": st.lists(event_objects, max_size=3), "stream": stream_fields}),
    json_values,
)


def _deep(depth: int, opener: str, closer: str) -> bytes:
    return (opener * depth + closer * depth).encode()


def _mutate(doc_bytes: bytes, cut: int, garbage: bytes) -> bytes:
    cut = cut % (len(doc_bytes) + 1)
    return doc_bytes[:cut] + garbage + doc_bytes[cut:]


def dump(doc: Any) -> bytes:
    """JSON as Python writes it by default: NaN/Infinity allowed, surrogates escaped."""
    return json.dumps(doc).encode()


publish_bodies = st.one_of(
    documents.map(dump),
    documents.map(dump),
    documents.map(dump),
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda t: t.encode("utf-8")),
    st.builds(
        _deep,
        st.integers(1, 30_000),
        st.sampled_from(["[", '{"a":', '{"stream":"pub","data":{"x":']),
        st.just(""),
    ),
    st.builds(_mutate, documents.map(dump), st.integers(0, 10_000), st.binary(max_size=5)),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[" * 5000,
            b'{"stream": "pub", "data": {"x": ' + b"[" * 900 + b"]" * 900 + b"}}",
            b"{}",
            b'{"events": []}',
            b'{"stream": "pub", "data": {"v": 1e999}}',
            b'{"stream": "pub", "data": {"v": NaN}}',
            b'{"stream": "pub", "data": {"s": "\\ud800"}}',
            b'{"stream": "pub\\n", "data": {}}',
            b'{"stream": "pub", "data": {"n": ' + b"9" * 5000 + b"}}",
            b'\xef\xbb\xbf{"stream": "pub", "data": {}}',
            b'{"stream": "pub", "data": {}, "stream": "private"}',
        ]
    ),
)

_latin1_header = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"),
    max_size=60,
)
authorizations = st.one_of(
    st.just(f"Bearer {TOKEN}"),
    st.just(f"Bearer {TOKEN}"),
    st.just(f"bearer {TOKEN}"),
    st.none(),
    st.just(f"Bearer {TOKEN[:-1]}"),
    st.just(f"Bearer {TOKEN}x"),
    st.just(f"Basic {TOKEN}"),
    st.just(TOKEN),
    st.just("Bearer "),
    _latin1_header.map(lambda t: f"Bearer {t}"),
    _latin1_header,
)

_cursor_parts = st.one_of(
    st.builds(lambda s, n: f"{s}:{n}", st.sampled_from(VALID_STREAMS), st.integers(-5, 2**70)),
    st.builds(lambda s, n: f"{s}:{n}", stream_names, st.text(max_size=6)),
    st.text(max_size=20),
)
cursor_values = st.lists(_cursor_parts, max_size=4).map(",".join)
wait_values = st.one_of(
    st.sampled_from(["", "0", "0.01", "-1", "nan", "inf", "-inf", "1e309", "26", "25.0001", "0x1"]),
    st.floats(min_value=0, max_value=0.02).map(str),
    st.text(max_size=8).filter(lambda t: not _slow_wait(t)),
)


def _slow_wait(text: str) -> bool:
    """True when ``text`` would make a poll wait long (keeps the test quick)."""
    try:
        value = float(text)
    except ValueError:
        return False
    return 0.05 < value <= 25


query_params = st.lists(
    st.one_of(
        st.tuples(
            st.just("stream"),
            st.one_of(
                stream_names, st.lists(st.sampled_from(VALID_STREAMS), max_size=70).map(",".join)
            ),
        ),
        st.tuples(st.just("stream"), st.sampled_from(VALID_STREAMS)),
        st.tuples(st.just("cursor"), cursor_values),
        st.tuples(st.just("last"), cursor_values),
        st.tuples(st.just("wait"), wait_values),
        st.tuples(st.text(max_size=8), st.text(max_size=20)),
    ),
    max_size=6,
)


def encode_query(params: list[tuple[str, str]]) -> str:
    """A query string that percent-encodes everything, as a browser would."""
    return "&".join(
        f"{quote(k.encode('utf-8', 'surrogatepass'), safe='')}="
        f"{quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
        for k, v in params
    )


raw_queries = st.one_of(
    query_params.map(encode_query),
    query_params.map(encode_query),
    st.binary(max_size=80).map(lambda b: quote(b, safe="=&%+")),
    st.sampled_from(
        [
            "stream=pub%0A",
            "stream=pub%0Aid:%20x",
            "stream=pub.a%0A&last=pub.a%0A:2",
            "stream=pub&cursor=pub:99999999999999999999999",
            "stream=pub&cursor=pub:-1",
            "stream=pub&last=pub:100001",
            "stream=%ff%fe",
            "stream=pub&stream=private",
            "stream=pub,private",
            "stream=" + ",".join(f"pub.s{i}" for i in range(65)),
            "stream=pub&wait=nan",
            "stream=pub&%zz=1",
        ]
    ),
)


def _header_safe(value: str) -> str:
    """What a header can carry: latin-1 bytes, no line breaks (HTTP forbids them)."""
    raw = value.encode("utf-8", "surrogatepass").decode("latin-1")
    return raw.replace("\r", "").replace("\n", "").replace("\x00", "")


last_event_ids = st.one_of(st.none(), cursor_values.map(_header_safe), _latin1_header)
