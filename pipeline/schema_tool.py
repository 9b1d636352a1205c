"""`ctpipe schema`: bootstrap or refresh the curated schema from the data, shown as a diff.

Bootstrap (no curated schema yet): TFDV infers one from statistics of every span.
Refresh: TFDV updates the curated schema just enough to accept the current data,
keeping every curated constraint that the data still satisfies. Either way the
result is shown as a unified diff and written only when confirmed.
"""
import os
from typing import Optional, Tuple

from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline import spans
from pipeline.components.schema_review import proposals as schema_review


def data_statistics(data_root: str):
  """TFDV statistics over every span's CSV files (the same decoder CsvExampleGen uses)."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  spans.list_spans(data_root)  # for its checks: a clear error beats an empty statistics run
  pattern = os.path.join(data_root, f'{spans.SPAN_DIR_PREFIX}*', '*.csv')
  return tfdv.generate_statistics_from_csv(data_location=pattern)


def propose(data_root: str, curated: Optional[schema_pb2.Schema]) -> schema_pb2.Schema:
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  stats = data_statistics(data_root)
  if curated is None:
    return tfdv.infer_schema(stats, infer_feature_shape=False)
  return tfdv.update_schema(curated, stats)


def load(path: str) -> Optional[schema_pb2.Schema]:
  if not os.path.exists(path):
    return None
  with open(path, encoding='utf-8') as f:
    return schema_review.read_schema_text(f.read())


def plan(schema_path: str, data_root: str) -> Tuple[str, str]:
  """(current text, proposed text) for the curated schema at `schema_path`."""
  curated = load(schema_path)
  current = schema_review.schema_text(curated) if curated is not None else ''
  return current, schema_review.schema_text(propose(data_root, curated))


def write(schema_path: str, text: str) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(schema_path)), exist_ok=True)
  tmp = schema_path + '.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    f.write(text)
  os.replace(tmp, schema_path)
