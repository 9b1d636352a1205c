"""Span layout of input data: `<data root>/span-<N>/*.csv`, read by CsvExampleGen's {SPAN} pattern.

A span is a complete batch of data that arrives at once (here: one calendar period
of taxi trips). `spans.json` at the data root names the period of each span; it is
informational and not read by ExampleGen.
"""
import csv
import dataclasses
import datetime
import json
import os
import re
from typing import Dict, Iterable, List, Sequence

SPAN_DIR_PREFIX = 'span-'
SPAN_PATTERN = SPAN_DIR_PREFIX + '{SPAN}/*.csv'
INDEX_FILE = 'spans.json'
# A span's completion marker, written after its last file (see continuous/readiness.py).
READY_MARKER = '_SUCCESS'
TIMESTAMP_COLUMN = 'trip_start_timestamp'
_SPAN_DIR = re.compile(r'^' + re.escape(SPAN_DIR_PREFIX) + r'(\d+)$')


class SpanLayoutError(ValueError):
  """The data root does not hold readable spans."""


@dataclasses.dataclass(frozen=True)
class Span:
  number: int
  path: str
  files: tuple


def span_dirs(data_root: str) -> List[Span]:
  """Every `span-<N>` folder under `data_root`, oldest first, unchecked (may be empty)."""
  if not os.path.isdir(data_root):
    raise SpanLayoutError(f'data folder {data_root} does not exist; pass --data-root DIR '
                          f'holding {SPAN_DIR_PREFIX}<N>/ folders of CSV files')
  spans = []
  for entry in sorted(os.listdir(data_root)):
    match = _SPAN_DIR.match(entry)
    path = os.path.join(data_root, entry)
    if not match or not os.path.isdir(path):
      continue
    files = tuple(sorted(f for f in os.listdir(path) if f.endswith('.csv')))
    spans.append(Span(int(match.group(1)), path, files))
  return sorted(spans, key=lambda s: s.number)


def list_spans(data_root: str) -> List[Span]:
  """Spans under `data_root`, oldest first; raises SpanLayoutError when there are none."""
  spans = span_dirs(data_root)
  if not spans:
    raise SpanLayoutError(f'no {SPAN_DIR_PREFIX}<N>/ folders in {data_root}; '
                          f'lay out CSV files as {os.path.join(data_root, SPAN_PATTERN)}')
  for span in spans:
    check_span_readable(span)
  return spans


def csv_bytes(data_root: str, numbers: Sequence[int]) -> int:
  """Size of the CSV files of spans `numbers` (missing spans count 0)."""
  wanted = set(numbers)
  return sum(os.path.getsize(os.path.join(span.path, name))
             for span in span_dirs(data_root) if span.number in wanted for name in span.files)


def count_rows(span: Span) -> int:
  """Data rows (header excluded) in a span's CSV files; quoted newlines counted correctly."""
  total = 0
  for name in span.files:
    with open(os.path.join(span.path, name), newline='', encoding='utf-8') as f:
      total += max(0, sum(1 for _ in csv.reader(f)) - 1)
  return total


def check_span_readable(span: Span) -> None:
  """Raises SpanLayoutError for a span with no CSV, an empty CSV or an unreadable header."""
  if not span.files:
    raise SpanLayoutError(f'span {span.number} ({span.path}) holds no .csv file')
  for name in span.files:
    path = os.path.join(span.path, name)
    try:
      with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        header = next(reader, None)
        first = next(reader, None)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
      raise SpanLayoutError(f'span {span.number}: cannot read {path}: {e}') from e
    if not header:
      raise SpanLayoutError(f'span {span.number}: {path} is empty')
    if first is None:
      raise SpanLayoutError(f'span {span.number}: {path} has a header but no rows')


def period_of(timestamp: int, period: str) -> str:
  """Calendar period label (UTC) of a unix timestamp: '2014' or '2014Q3'."""
  moment = datetime.datetime.fromtimestamp(int(timestamp), tz=datetime.timezone.utc)
  if period == 'year':
    return f'{moment.year}'
  if period == 'quarter':
    return f'{moment.year}Q{(moment.month - 1) // 3 + 1}'
  raise ValueError(f'unknown period {period!r}; use year or quarter')


def split_rows_into_spans(header: Sequence[str], rows: Iterable[Sequence[str]], out_root: str,
                          period: str) -> Dict[int, Dict[str, object]]:
  """Writes rows into `out_root/span-<N>/data.csv`, one span per period, in time order.

  Returns (and writes to spans.json) {span number: {"period": ..., "rows": ...}}.
  """
  try:
    ts_index = list(header).index(TIMESTAMP_COLUMN)
  except ValueError as e:
    raise SpanLayoutError(f'input has no {TIMESTAMP_COLUMN} column to split on') from e
  by_period: Dict[str, List[Sequence[str]]] = {}
  for row in rows:
    by_period.setdefault(period_of(int(row[ts_index]), period), []).append(row)
  index = {}
  for number, label in enumerate(sorted(by_period), start=1):
    span_dir = os.path.join(out_root, f'{SPAN_DIR_PREFIX}{number}')
    os.makedirs(span_dir, exist_ok=True)
    with open(os.path.join(span_dir, 'data.csv'), 'w', newline='', encoding='utf-8') as f:
      writer = csv.writer(f, lineterminator='\n')
      writer.writerow(header)
      writer.writerows(by_period[label])
    # Written last: the span is complete (watchers read a span only once it exists).
    with open(os.path.join(span_dir, READY_MARKER), 'w', encoding='utf-8'):
      pass
    index[number] = {'period': label, 'rows': len(by_period[label])}
  with open(os.path.join(out_root, INDEX_FILE), 'w', encoding='utf-8') as f:
    json.dump({str(k): v for k, v in index.items()}, f, indent=2)
    f.write('\n')
  return index


def split_csv_into_spans(csv_path: str, out_root: str, period: str) -> Dict[int, Dict[str, object]]:
  """Splits one CSV file into spans (see split_rows_into_spans)."""
  with open(csv_path, newline='', encoding='utf-8') as f:
    reader = csv.reader(f)
    header = next(reader)
    return split_rows_into_spans(header, reader, out_root, period)
