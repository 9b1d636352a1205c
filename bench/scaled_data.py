"""Larger taxi data sets drawn from the embedded data's distribution, for benchmarks.

Each output span is a bootstrap sample of the same embedded span (year), `scale`
times its size, so the mix of payment types, companies, hours and places is the
embedded one. Every sampled row is jittered so that rows are not copies: fare and tips
are multiplied by one shared random factor (the label `tips > 0.2 * fare` is kept, up to
rounding to cents) and trip_miles and trip_seconds by another. Deterministic for a seed.

    .venv/bin/python bench/scaled_data.py --rows 150000 --out /tmp/taxi-150k
"""
import argparse
import csv
import os
from typing import Dict, List

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBEDDED = os.path.join(REPO, 'data', 'taxi')
SPAN_PREFIX = 'span-'
MARKER = '_SUCCESS'  # pipeline.spans.READY_MARKER; not imported, to keep this free of TFX
MONEY = ('fare', 'tips')
TRIP = ('trip_miles', 'trip_seconds')
JITTER_SIGMA = 0.08  # log-normal spread of each factor: ~8 %


def _read_span(path: str):
  with open(path, newline='', encoding='utf-8') as f:
    reader = csv.reader(f)
    header = next(reader)
    columns = list(zip(*reader))
  return header, [np.asarray(column, dtype=object) for column in columns]


def _scaled(values: np.ndarray, factor: np.ndarray, decimals: int) -> np.ndarray:
  """`values` (CSV strings, '' = missing) times `factor`, formatted; missing stays ''."""
  out = values.copy()
  present = values != ''
  numbers = values[present].astype(np.float64) * factor[present]
  if decimals == 0:
    out[present] = np.char.mod('%d', np.rint(numbers).astype(np.int64))
  else:
    out[present] = np.char.mod(f'%.{decimals}f', numbers)
  return out


def write_span(source_csv: str, out_dir: str, rows: int, rng: np.random.Generator) -> int:
  header, columns = _read_span(source_csv)
  picks = rng.integers(0, len(columns[0]), size=rows)
  money = np.exp(rng.normal(0.0, JITTER_SIGMA, size=rows))
  trip = np.exp(rng.normal(0.0, JITTER_SIGMA, size=rows))
  out: List[np.ndarray] = []
  for name, column in zip(header, columns):
    sampled = column[picks]
    if name in MONEY:
      sampled = _scaled(sampled, money, 2)
    elif name == 'trip_miles':
      sampled = _scaled(sampled, trip, 2)
    elif name == 'trip_seconds':
      sampled = _scaled(sampled, trip, 0)
    out.append(sampled)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'data.csv'), 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(header)
    chunk = 100_000
    for start in range(0, rows, chunk):
      writer.writerows(zip(*(column[start:start + chunk] for column in out)))
  with open(os.path.join(out_dir, MARKER), 'w', encoding='utf-8'):
    pass  # written last: the span is complete
  return rows


def generate(total_rows: int, out_root: str, seed: int = 20261130,
             source_root: str = EMBEDDED) -> Dict[int, int]:
  """Writes `out_root/span-<N>/data.csv` (+ marker) for every embedded span, with about
  `total_rows` rows in all, in the embedded spans' proportions; returns rows per span.
  Also writes `out_root/flat/span-<N>.csv` hard links: one folder of CSV files, as TFX's
  own example reads its data."""
  sources = sorted((int(name[len(SPAN_PREFIX):]), os.path.join(source_root, name, 'data.csv'))
                   for name in os.listdir(source_root) if name.startswith(SPAN_PREFIX))
  if not sources:
    raise FileNotFoundError(f'no {SPAN_PREFIX}<N> folders in {source_root}')
  sizes = {number: sum(1 for _ in open(path, encoding='utf-8')) - 1 for number, path in sources}
  embedded_total = sum(sizes.values())
  rng = np.random.default_rng(seed)
  written = {}
  flat = os.path.join(out_root, 'flat')
  os.makedirs(flat, exist_ok=True)
  for number, path in sources:
    rows = round(total_rows * sizes[number] / embedded_total)
    span_dir = os.path.join(out_root, f'{SPAN_PREFIX}{number}')
    written[number] = write_span(path, span_dir, rows, rng)
    link = os.path.join(flat, f'{SPAN_PREFIX}{number}.csv')
    if os.path.exists(link):
      os.remove(link)
    os.link(os.path.join(span_dir, 'data.csv'), link)
  return written


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rows', type=int, required=True)
  parser.add_argument('--out', required=True)
  parser.add_argument('--seed', type=int, default=20261130)
  args = parser.parse_args()
  written = generate(args.rows, args.out, args.seed)
  for number, rows in written.items():
    print(f'span {number}: {rows} rows')
  print(f'{sum(written.values())} rows in {args.out}')


if __name__ == '__main__':
  main()
