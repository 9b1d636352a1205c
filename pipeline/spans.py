"""Span layout of input data: `<data root>/span-<N>/*.csv`, read by CsvExampleGen's {SPAN} pattern.

A span is a complete batch of data that arrives at once (for the embedded data: one
calendar year). `spans.json` at the data root names the period of each span; it is
informational and not read by ExampleGen.

Two checks of a span's files, each with one owner downstream:
- `unreadable_reason`: files ExampleGen cannot ingest (no CSV, empty, a header and no
  rows, not UTF-8, a field over the CSV reader's limit, a row whose column count is not
  the header's, files with different headers). The local runner rejects such a span
  before ingesting it and records why in ML Metadata.
- `header_problems`: a header that ingests but gives the wrong data (a duplicated
  column, whose last cell wins; a column without a name; a name with surrounding
  spaces or control characters). The data gate stops the run on them, on every runner.
"""
import collections
import csv
import dataclasses
import datetime
import hashlib
import json
import os
import re
from typing import Dict, Iterable, List, Optional, Sequence

SPAN_DIR_PREFIX = 'span-'
SPAN_PATTERN = SPAN_DIR_PREFIX + '{SPAN}/*.csv'
INDEX_FILE = 'spans.json'
# A span's completion marker, written after its last file (see continuous/readiness.py).
READY_MARKER = '_SUCCESS'
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
  """Spans under `data_root`, oldest first; raises SpanLayoutError when there are none.

  An unreadable span is listed: it is rejected when its turn comes (`unreadable_reason`),
  so it never stops the spans after it."""
  spans = span_dirs(data_root)
  if not spans:
    raise SpanLayoutError(f'no {SPAN_DIR_PREFIX}<N>/ folders in {data_root}; '
                          f'lay out CSV files as {os.path.join(data_root, SPAN_PATTERN)}')
  return spans


def csv_bytes(data_root: str, numbers: Sequence[int]) -> int:
  """Size of the CSV files of spans `numbers` (missing spans count 0)."""
  wanted = set(numbers)
  return sum(os.path.getsize(os.path.join(span.path, name))
             for span in span_dirs(data_root) if span.number in wanted for name in span.files)


def count_rows(span: Span) -> Optional[int]:
  """Data rows (header excluded) in a span's CSV files; quoted newlines counted correctly.
  None when the files cannot be read."""
  total = 0
  try:
    for name in span.files:
      with open(os.path.join(span.path, name), newline='', encoding='utf-8') as f:
        total += max(0, sum(1 for _ in csv.reader(f)) - 1)
  except (OSError, UnicodeDecodeError, csv.Error):
    return None
  return total


def check_span_readable(span: Span) -> None:
  """Raises SpanLayoutError (with the reason) for a span ExampleGen cannot ingest."""
  reason = unreadable_reason(span)
  if reason:
    raise SpanLayoutError(f'span {span.number} ({span.path}): {reason}')


def unreadable_reason(span: Span) -> Optional[str]:
  """Why ExampleGen cannot ingest the span's files, or None. Reads every row once."""
  if not span.files:
    return 'holds no .csv file'
  first_header: Optional[List[str]] = None
  rows = 0
  for name in span.files:
    path = os.path.join(span.path, name)
    line = 0
    try:
      with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
          return f'{name} is empty'
        if first_header is None:
          first_header = header
        elif header != first_header:
          return f'{name} has another header than {span.files[0]}'
        for row in reader:
          line = reader.line_num
          if not row:
            continue  # blank lines are skipped by ExampleGen too
          if len(row) != len(header):
            return (f'{name}, line {line}: {len(row)} columns where the header has '
                    f'{len(header)}')
          rows += 1
    except UnicodeDecodeError as e:
      return f'{name} is not UTF-8 text ({e.reason} at byte {e.start})'
    except csv.Error as e:
      return f'{name}, line {line + 1}: {e}'
    except OSError as e:
      return f'cannot read {name}: {e.strerror or e}'
  if rows == 0:
    return 'has a header but no rows'
  return None


def header_problems(header: Sequence[str]) -> List[tuple]:
  """(column, problem) for each header column that would ingest as the wrong feature."""
  problems = []
  positions = collections.defaultdict(list)
  for index, name in enumerate(header, start=1):
    positions[name].append(index)
  for index, name in enumerate(header, start=1):
    if not name.strip():
      problems.append((f'column {index}', 'a column without a name'))
    elif name != name.strip():
      problems.append((name, f'column {index}: spaces around the name {name!r}'))
    elif any(ord(c) < 32 or c == '"' for c in name):
      problems.append((name, f'column {index}: a control character or quote in the name'))
  for name, where in positions.items():
    if len(where) > 1 and name.strip():
      problems.append((name, f'column {name!r} appears {len(where)} times (columns '
                             f'{", ".join(map(str, where))}); ingestion would keep the last'))
  return problems


def fingerprint(span: Span) -> str:
  """Names, sizes and modification times of a span's files: it changes when they do."""
  digest = hashlib.sha256()
  for name in span.files:
    stat = os.stat(os.path.join(span.path, name))
    digest.update(f'{name}:{stat.st_size}:{stat.st_mtime_ns};'.encode())
  return digest.hexdigest()[:16]


def period_of(timestamp: int, period: str) -> str:
  """Calendar period label (UTC) of a unix timestamp: '2014' or '2014Q3'."""
  moment = datetime.datetime.fromtimestamp(int(timestamp), tz=datetime.timezone.utc)
  if period == 'year':
    return f'{moment.year}'
  if period == 'quarter':
    return f'{moment.year}Q{(moment.month - 1) // 3 + 1}'
  raise ValueError(f'unknown period {period!r}; use year or quarter')


def split_rows_into_spans(header: Sequence[str], rows: Iterable[Sequence[str]], out_root: str,
                          period: str, time_column: str) -> Dict[int, Dict[str, object]]:
  """Writes rows into `out_root/span-<N>/data.csv`, one span per period of `time_column`
  (unix seconds), in time order.

  Returns (and writes to spans.json) {span number: {"period": ..., "rows": ...}}.
  """
  try:
    ts_index = list(header).index(time_column)
  except ValueError as e:
    raise SpanLayoutError(f'input has no {time_column} column to split on') from e
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


def split_csv_into_spans(csv_path: str, out_root: str, period: str,
                         time_column: str) -> Dict[int, Dict[str, object]]:
  """Splits one CSV file into spans (see split_rows_into_spans)."""
  with open(csv_path, newline='', encoding='utf-8') as f:
    reader = csv.reader(f)
    header = next(reader)
    return split_rows_into_spans(header, reader, out_root, period, time_column)
