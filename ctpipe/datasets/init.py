"""`ctpipe init`: a table and a label column in; spans, a curated schema and a config out.

`init_dataset` reads one CSV (or a folder laid out as `span-<N>/*.csv`), infers the
task and each column's treatment (`ctpipe.datasets.infer`), and writes the data set
(`ctpipe.datasets.writer`) either into the project (`data/NAME/`, `schema/NAME.pbtxt`,
`config/NAME.yaml`) or into a folder of its own (`DIR/data/`, `DIR/schema.pbtxt`,
`DIR/ctpipe.yaml`), with paths relative to the config's folder.
"""
import csv
import dataclasses
import glob
import os
import re
from typing import Dict, List, Optional, Sequence

from ctpipe.datasets import infer as infer_lib
from ctpipe.datasets import writer
from ctpipe.datasets.infer import Column, Inference, InitError

MIN_ROWS = 60  # below this a 2:1 train/eval split leaves too little to judge a model


@dataclasses.dataclass(frozen=True)
class InitResult:
  name: str
  config_path: str
  schema_path: str
  data_root: str
  inference: Inference
  columns: List[Column]
  spans: Dict[int, Dict]
  renamed: Dict[str, str]


def _read_csv(path: str):
  with open(path, newline='', encoding='utf-8') as f:
    reader = csv.reader(f)
    try:
      header = next(reader)
    except StopIteration:
      raise InitError(f'{path} is empty') from None
    rows = [row for row in reader if row]
  bad = next((n for n, row in enumerate(rows) if len(row) != len(header)), None)
  if bad is not None:
    raise InitError(f'{path}: row {bad + 2} has {len(rows[bad])} fields, the header '
                    f'{len(header)}')
  return header, rows


def read_table(path: str):
  """(header, rows, spans or None): one CSV, or a folder of span-<N>/*.csv."""
  if os.path.isfile(path):
    header, rows = _read_csv(path)
    return header, rows, None
  if not os.path.isdir(path):
    raise InitError(f'--data {path}: no such file or folder')
  span_dirs = sorted((int(m.group(1)), d) for d in os.listdir(path)
                     if (m := re.fullmatch(r'span-(\d+)', d)))
  if not span_dirs:
    raise InitError(f'--data {path}: a folder must hold span-<N>/*.csv')
  header, rows, spans = None, [], {}
  for number, d in span_dirs:
    span_rows = []
    for name in sorted(glob.glob(os.path.join(path, d, '*.csv'))):
      h, r = _read_csv(name)
      if header is not None and h != header:
        raise InitError(f'{name}: its header differs from the other spans\'')
      header = h
      span_rows += r
    spans[f'span {number}'] = span_rows
    rows += span_rows
  return header, rows, spans


def _blank_missing(rows):
  return [[('' if infer_lib.is_missing(c) else c) for c in row] for row in rows]


def _safe_header(header: Sequence[str]) -> Dict[str, str]:
  renamed, seen = {}, set()
  for name in header:
    safe = infer_lib.safe_name(name)
    if safe in seen:
      raise InitError(f'columns {name!r} and another both become {safe!r}; rename one')
    seen.add(safe)
    if safe != name:
      renamed[name] = safe
  return renamed


def init_dataset(data: str, label: str, name: Optional[str] = None, out_dir: Optional[str] = None,
                 project_root: str = '.', task: str = 'auto', positive_class: str = '',
                 exclude: Sequence[str] = (), spans: Optional[int] = None,
                 span_by: Optional[str] = None, period: str = 'month') -> InitResult:
  """Writes the data set; returns what was written and inferred (InitError on bad input)."""
  header, rows, existing = read_table(data)
  if len(rows) < MIN_ROWS:
    raise InitError(f'{len(rows)} rows: a data set needs at least {MIN_ROWS} (a third is '
                    'held out to judge the model)')
  # Missing markers (NA, NaN, ...) become empty cells: what ExampleGen reads as missing.
  rows = _blank_missing(rows)
  if existing is not None:
    existing = {k: _blank_missing(v) for k, v in existing.items()}
  renamed = _safe_header(header)
  safe = [renamed.get(h, h) for h in header]
  rename = lambda column: renamed.get(column, column)  # noqa: E731
  label_name = rename(label) if label in header else label
  time_column = rename(span_by) if span_by else ''
  inference = infer_lib.infer(safe, rows, label_name, task, positive_class,
                              [rename(c) for c in exclude], time_column)
  if existing is not None:
    if span_by or spans:
      raise InitError('--data is already a folder of spans: --spans/--span-by do not apply')
    split = existing
  elif span_by:
    split = writer.split_by_time(safe, rows, time_column, period)
  else:
    split = writer.split_in_order(rows, spans or 4)
  name = name or re.sub(r'[^a-z0-9_-]+', '-', os.path.splitext(os.path.basename(
      os.path.normpath(data)))[0].lower()).strip('-') or 'dataset'
  if out_dir:
    base, data_rel, schema_rel, config_name = out_dir, 'data', 'schema.pbtxt', 'ctpipe.yaml'
    config_dir = out_dir
  else:
    base, data_rel, schema_rel = project_root, f'data/{name}', f'schema/{name}.pbtxt'
    config_dir, config_name = os.path.join(project_root, 'config'), f'{name}.yaml'
  config_path = os.path.join(config_dir, config_name)
  schema_path = os.path.join(base, schema_rel)
  if os.path.exists(config_path) or os.path.exists(schema_path):
    raise InitError(f'{config_path} or {schema_path} exists already; choose another --name '
                    'or --dir')
  columns = list(inference.columns)
  schema = writer.build_schema(columns, inference, split, safe)
  index = writer.write_spans(os.path.join(base, data_rel), safe, split)
  os.makedirs(os.path.dirname(schema_path), exist_ok=True)
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  with open(schema_path, 'w', encoding='utf-8') as f:
    f.write(text_format.MessageToString(schema))
  os.makedirs(config_dir, exist_ok=True)
  note = (f'twice the largest distance between consecutive spans, within '
          f'[{writer.MIN_THRESHOLD}, {writer.MAX_THRESHOLD}]')
  with open(config_path, 'w', encoding='utf-8') as f:
    f.write(writer.config_text(name, inference, data_rel, schema_rel, renamed, index, note,
                               columns))
  return InitResult(name, config_path, schema_path, os.path.join(base, data_rel), inference,
                    columns, index, renamed)
