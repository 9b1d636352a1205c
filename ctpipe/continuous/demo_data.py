"""A copy of the embedded history with a drifted span and a schema-broken span inserted.

For `ctpipe replay --demo`: the replay shows the drifted span triggering retraining,
the broken one halting without a push, and the next good span going on. Which columns
change is the data set's definition (`dataset.demo` in the config). Seeded: the same
seed writes the same bytes.
"""
import csv
import os
import random
from typing import Dict, List, Sequence, Tuple

from ctpipe.config import DemoChanges
from ctpipe.continuous import readiness
from pipeline import spans as spans_lib

Rows = List[List[str]]


def _read(span: spans_lib.Span) -> Tuple[List[str], Rows]:
  rows: Rows = []
  header: List[str] = []
  for name in span.files:
    with open(os.path.join(span.path, name), newline='', encoding='utf-8') as f:
      reader = csv.reader(f)
      header = next(reader)
      rows.extend(reader)
  return header, rows


def _write(root: str, number: int, header: Sequence[str], rows: Rows) -> str:
  span_dir = os.path.join(root, f'{spans_lib.SPAN_DIR_PREFIX}{number}')
  os.makedirs(span_dir, exist_ok=True)
  with open(os.path.join(span_dir, 'data.csv'), 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(header)
    writer.writerows(rows)
  readiness.mark_ready(span_dir)
  return span_dir


def drifted(header: Sequence[str], rows: Rows, rng: random.Random,
            changes: DemoChanges) -> Rows:
  """The same rows, shifted: the `scaled` columns times `scale`, and the `constant`
  columns set on a `constant_share` of the rows.

  Chosen so that every value stays inside the curated schema's domains and only the
  drift comparators notice.
  """
  col = {name: i for i, name in enumerate(header)}
  out = []
  for row in rows:
    row = list(row)
    for name in changes.scaled:
      if row[col[name]]:
        row[col[name]] = f'{float(row[col[name]]) * changes.scale:.2f}'
    if rng.random() < changes.constant_share:
      for name, value in changes.constant.items():
        row[col[name]] = value
    out.append(row)
  return out


def broken(header: Sequence[str], rows: Rows, changes: DemoChanges) -> Tuple[List[str], Rows]:
  """Schema-broken: the required `dropped` column is gone and `garbled` holds text."""
  col = {name: i for i, name in enumerate(header)}
  keep = [i for i, name in enumerate(header) if name != changes.dropped]
  out = []
  for n, row in enumerate(rows):
    row = list(row)
    if n % 10 == 0 and changes.garbled:
      row[col[changes.garbled]] = 'unknown'
    out.append([row[i] for i in keep])
  return [header[i] for i in keep], out


def write_demo(source_root: str, out_root: str, periods: Dict[int, str], changes: DemoChanges,
               seed: int = 7) -> Dict[int, str]:
  """Writes the demo spans under `out_root`; returns {span: what it is}, e.g. '2014 drifted'.

  Embedded spans 1..N become: 1, 2, a drifted copy of 2, a broken copy of 3, then 3..N.
  `periods` names the embedded spans (spans.json).
  """
  rng = random.Random(seed)
  source = spans_lib.list_spans(source_root)
  if len(source) < 3:
    raise ValueError(f'the demo needs at least 3 spans in {source_root}, found {len(source)}')
  if os.path.exists(out_root) and os.listdir(out_root):
    raise ValueError(f'{out_root} is not empty; the demo writes a fresh copy')
  plan = []
  header2, rows2 = _read(source[1])
  header3, rows3 = _read(source[2])
  def name(span: spans_lib.Span) -> str:
    return periods.get(span.number) or f'span {span.number}'
  plan.append((source[0], name(source[0])))
  plan.append((source[1], name(source[1])))
  plan.append(((header2, drifted(header2, rows2, rng, changes)), f'{name(source[1])}, drifted copy'))
  plan.append((broken(header3, rows3, changes), f'{name(source[2])}, schema-broken copy'))
  plan.extend((s, name(s)) for s in source[2:])
  described = {}
  for number, (what, label) in enumerate(plan, start=1):
    if isinstance(what, spans_lib.Span):
      header, rows = _read(what)
    else:
      header, rows = what
    _write(out_root, number, header, rows)
    described[number] = label
  return described
