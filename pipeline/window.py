"""The training window: which spans a run trains on, computed once.

Locally each run ingests one span, and the window is assembled from the spans the
data gate passed: the newest `window_spans` of them, the run's own span included.
`plan` decides, from the files on disk and ML Metadata, which older spans must be
ingested first (backfill); `window` is the answer after that, and the same list is
printed, written to `last_run.json` and handed to the resolver that feeds Transform,
Trainer and Evaluator (`pipeline.resolvers.span_window`), so they cannot disagree.
"""
import dataclasses
from typing import List, Sequence


@dataclasses.dataclass(frozen=True)
class SpanPlan:
  newest: int
  window: List[int]     # what this run trains on, oldest first (the newest span last)
  backfill: List[int]   # older window spans never ingested: ingested first, one run each
  excluded: List[int]   # ingested earlier but stopped by the data gate: not in any window


def window(validated: Sequence[int], newest: int, window_spans: int) -> List[int]:
  """The newest `window_spans` spans among those validated before `newest`, and `newest`."""
  if window_spans < 1:
    raise ValueError(f'window_spans must be >= 1, got {window_spans}')
  older = sorted({s for s in validated if s < newest})
  return (older[-(window_spans - 1):] if window_spans > 1 else []) + [newest]


def plan(available: Sequence[int], ingested: Sequence[int], validated: Sequence[int],
         window_spans: int) -> SpanPlan:
  """The run's plan before it starts: spans never ingested count as if they will pass."""
  ordered = sorted(available)
  newest = ordered[-1]
  seen, passed = set(ingested), set(validated)
  usable = [s for s in ordered[:-1] if s not in seen or s in passed]
  planned = window(usable, newest, window_spans)
  start = planned[0]
  return SpanPlan(newest=newest, window=planned,
                  backfill=[s for s in planned[:-1] if s not in seen],
                  excluded=[s for s in ordered[:-1] if s >= start and s in seen and s not in passed])


def describe(spans: Sequence[int]) -> str:
  """'1..4' for consecutive spans, '1, 2, 3, 5' otherwise."""
  spans = list(spans)
  if len(spans) > 1 and spans == list(range(spans[0], spans[-1] + 1)):
    return f'{spans[0]}..{spans[-1]}'
  return ', '.join(str(s) for s in spans)
