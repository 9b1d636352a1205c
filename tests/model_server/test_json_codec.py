"""The JSON guards run before parsing: nesting depth, checked without recursion."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctpipe.model_server.json_codec import check_depth, dumps, parse_body
from ctpipe.model_server.served_model import RequestError

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(
    alphabet=st.sampled_from('ab[]{}"\\\n é'), max_size=6)
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(alphabet=st.sampled_from('k[]{}"\\'), max_size=3), inner, max_size=3), max_leaves=40)


def _depth(value) -> int:
  if isinstance(value, list):
    return 1 + max((_depth(v) for v in value), default=0)
  if isinstance(value, dict):
    return 1 + max((_depth(v) for v in value.values()), default=0)
  return 0


@settings(max_examples=400, deadline=None)
@given(_VALUES, st.integers(min_value=0, max_value=8))
def test_depth_check_agrees_with_the_parsed_structure(value, limit):
  body = json.dumps(value).encode()  # brackets and quotes inside strings are escaped
  if _depth(value) > limit:
    with pytest.raises(RequestError, match='nesting deeper'):
      check_depth(body, limit)
  else:
    check_depth(body, limit)


def test_a_deep_body_is_refused_quickly():
  check_depth(b'[' * 32 + b']' * 32, 32)
  with pytest.raises(RequestError):
    check_depth(b'{"a":' * 10000 + b'1' + b'}' * 10000, 32)
  check_depth(b'{"s": "' + b'[' * 100000 + b'"}', 32)  # brackets inside a string


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    # Integers within 64 bits: orjson reads larger ones as floats, and the served model's
    # integer inputs refuse anything beyond int64 either way (test_model_server).
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                               max_size=3), max_leaves=30))
def test_bodies_parse_as_the_standard_library_reads_them_nan_and_infinity_included(value):
  body = json.dumps({'inputs': value}).encode()  # NaN and Infinity as TF Serving's clients send
  parsed = parse_body(body, max_depth=64)
  # Compared through the standard library's text: NaN != NaN, but 'NaN' == 'NaN'.
  assert json.dumps(parsed, sort_keys=True) == json.dumps(json.loads(body), sort_keys=True)


@pytest.mark.parametrize('body', [b'{"a": 1,}', b"{'a': 1}", b'{"a": nan}', b'{"a": 1} x',
                                  b'{"a": "\xff"}', b'[1, NaN', b''])
def test_invalid_json_is_a_request_error(body):
  with pytest.raises(RequestError, match='JSON Parse error'):
    parse_body(body, max_depth=64)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(['outputs', 'predictions', 'results']), st.recursive(
    st.floats() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4), max_leaves=20), min_size=1))
def test_response_bodies_read_back_as_written_nan_and_infinity_included(result):
  assert json.dumps(json.loads(dumps(result))) == json.dumps(result)
