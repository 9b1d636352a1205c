"""The JSON guards run before parsing: nesting depth, checked without recursion."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_server.json_codec import check_depth
from model_server.served_model import RequestError

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
