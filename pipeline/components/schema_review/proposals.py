"""Comparing the curated schema with an inferred one, and proposing (never applying) updates.

The curated `schema/schema.pbtxt` is source code: reviewed and committed. Inference
only proposes; `ctpipe schema` shows the change as a diff before writing it.
"""
import difflib
from typing import Dict, List

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

_TYPE_NAMES = {schema_pb2.INT: 'INT', schema_pb2.FLOAT: 'FLOAT', schema_pb2.BYTES: 'BYTES',
               schema_pb2.STRUCT: 'STRUCT', schema_pb2.TYPE_UNKNOWN: 'UNKNOWN'}


def _features(schema: schema_pb2.Schema) -> Dict[str, schema_pb2.Feature]:
  return {f.name: f for f in schema.feature}


def _domain_values(schema: schema_pb2.Schema, feature: schema_pb2.Feature) -> List[str]:
  if feature.HasField('string_domain'):
    return list(feature.string_domain.value)
  if feature.HasField('domain'):
    for domain in schema.string_domain:
      if domain.name == feature.domain:
        return list(domain.value)
  return []


def proposed_changes(curated: schema_pb2.Schema, inferred: schema_pb2.Schema) -> List[str]:
  """Differences that matter, one readable line each: new, vanished or retyped features,
  new categorical values, and features that became optional."""
  changes = []
  cur, inf = _features(curated), _features(inferred)
  for name in sorted(set(inf) - set(cur)):
    changes.append(f'new feature {name!r} ({_TYPE_NAMES.get(inf[name].type, "?")}) '
                   'is in the data but not in the curated schema')
  for name in sorted(set(cur) - set(inf)):
    changes.append(f'feature {name!r} is in the curated schema but not in the data')
  for name in sorted(set(cur) & set(inf)):
    c, i = cur[name], inf[name]
    # A feature with no value in the data gets a default type from inference: not news.
    had_values = i.presence.min_count > 0 or i.presence.min_fraction > 0
    if c.type != i.type and had_values:
      changes.append(f'feature {name!r}: type {_TYPE_NAMES.get(c.type)} in the curated schema, '
                     f'{_TYPE_NAMES.get(i.type)} inferred from the data')
    curated_values = set(_domain_values(curated, c))
    if curated_values:
      new_values = [v for v in _domain_values(inferred, i) if v not in curated_values]
      if new_values:
        shown = ', '.join(repr(v) for v in new_values[:5])
        more = f' and {len(new_values) - 5} more' if len(new_values) > 5 else ''
        changes.append(f'feature {name!r}: values not in the curated domain: {shown}{more}')
    if (c.presence.min_fraction > i.presence.min_fraction and i.HasField('presence')):
      changes.append(f'feature {name!r}: present in {i.presence.min_fraction:.0%} of rows, '
                     f'curated schema requires {c.presence.min_fraction:.0%}')
  return changes


def schema_text(schema: schema_pb2.Schema) -> str:
  return text_format.MessageToString(schema)


def read_schema_text(text: str) -> schema_pb2.Schema:
  return text_format.Parse(text, schema_pb2.Schema())


def text_diff(old_text: str, new_text: str, old_name: str, new_name: str) -> str:
  """A unified diff of two schema texts ('' when they are equal)."""
  return ''.join(difflib.unified_diff(old_text.splitlines(keepends=True),
                                      new_text.splitlines(keepends=True),
                                      fromfile=old_name, tofile=new_name))
