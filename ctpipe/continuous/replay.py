"""`ctpipe replay`: the embedded history, span by span in time order, as if each had just arrived.

Each span is hard-linked into a staging data root and marked ready, then the same
watcher that `ctpipe watch` runs acts on it: ingest, validate, drift check, train on
the window (per the retrain policy), evaluate against the model in production, push
only improvements. The ledger keeps one timeline row per span; an interrupted replay
resumes where it stopped. Training is seeded: the same inputs give the same timeline.
"""
import json
import os
from typing import Callable, Dict, List, Optional

from ctpipe.continuous import readiness
from ctpipe.continuous.watch import Watcher
from pipeline import spans as spans_lib
from pipeline.components.data_gate import link_or_copy

TIMELINE_JSON = 'timeline.json'
TIMELINE_MD = 'timeline.md'


def stage_span(span: spans_lib.Span, staging_root: str) -> str:
  """Links a span's CSV files into the staging root, then writes its marker (last)."""
  target = os.path.join(staging_root, os.path.basename(span.path))
  os.makedirs(target, exist_ok=True)
  for name in span.files:
    destination = os.path.join(target, name)
    if not os.path.exists(destination):
      link_or_copy(os.path.join(span.path, name), destination)
  readiness.mark_ready(target)
  return target


def periods(source_root: str) -> Dict[int, str]:
  """Span → calendar period, from the data root's spans.json when it has one."""
  path = os.path.join(source_root, spans_lib.INDEX_FILE)
  if not os.path.exists(path):
    return {}
  with open(path, encoding='utf-8') as f:
    return {int(k): str(v.get('period', '')) for k, v in json.load(f).items()}


def select(source_root: str, from_span: Optional[int], to_span: Optional[int]
           ) -> List[spans_lib.Span]:
  chosen = [s for s in spans_lib.list_spans(source_root)
            if (from_span is None or s.number >= from_span)
            and (to_span is None or s.number <= to_span)]
  if not chosen:
    raise ValueError(f'no span of {source_root} lies in [{from_span or "first"}, '
                     f'{to_span or "last"}]')
  return chosen


def replay(watcher: Watcher, source_root: str, from_span: Optional[int] = None,
           to_span: Optional[int] = None,
           on_span: Callable[[spans_lib.Span], None] = lambda span: None
           ) -> List[Dict[str, object]]:
  """Stages each chosen span and lets the watcher act; returns the whole timeline."""
  for span in select(source_root, from_span, to_span):
    if span.number in watcher.ledger.finished_spans():
      continue  # done by an earlier (interrupted) replay into this home
    on_span(span)
    stage_span(span, watcher.data_root)
    watcher.poll()
  return timeline(watcher)


def timeline(watcher: Watcher) -> List[Dict[str, object]]:
  """The ledger's rows for spans, in the order they were handled."""
  return [o for o in watcher.ledger.outcomes() if o.get('span') is not None]


def _metric(values: Dict[str, float], name: str) -> str:
  value = (values or {}).get(name)
  return '—' if value is None else f'{value:.3f}'


def _pair(values: Dict[str, float]) -> str:
  return f"{_metric(values, 'auc')} / {_metric(values, 'binary_accuracy')}"


def markdown(rows: List[Dict[str, object]]) -> str:
  lines = ['| span | period | rows | trigger | drift | candidate AUC / acc | production AUC / acc '
           '| decision | pushed |', '|---|---|---|---|---|---|---|---|---|']
  for row in rows:
    drift = ', '.join(d['feature'] for d in row.get('drift') or []) or '—'
    lines.append(
        f"| {row['span']} | {row.get('period') or '—'} | {row.get('rows') or '—'} "
        f"| {row['trigger']} | {drift} "
        f"| {_pair(row.get('candidate'))} | {_pair(row.get('production'))} "
        f"| {row['decision']} | {row.get('pushed_version') or '—'} |")
  return '\n'.join(lines) + '\n'


def write_timeline(rows: List[Dict[str, object]], folder: str) -> Dict[str, str]:
  os.makedirs(folder, exist_ok=True)
  paths = {'json': os.path.join(folder, TIMELINE_JSON),
           'markdown': os.path.join(folder, TIMELINE_MD)}
  with open(paths['json'], 'w', encoding='utf-8') as f:
    json.dump(rows, f, indent=2, sort_keys=True)
    f.write('\n')
  with open(paths['markdown'], 'w', encoding='utf-8') as f:
    f.write(markdown(rows))
  return paths
