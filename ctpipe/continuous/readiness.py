"""Which spans have finished arriving: a span is ready once its completion marker exists.

A producer writes `span-<N>/*.csv` and then, last, an empty `span-<N>/_SUCCESS` (the
Hadoop/Spark convention). A span without the marker is still being written and is
never read, however old its files are: a stalled upload is not mistaken for a
complete one. CsvExampleGen's `*.csv` pattern does not see the marker. A ready span
that cannot be read is rejected by the runner, which records why in ML Metadata.
"""
import dataclasses
import os
from typing import List

from pipeline import spans

MARKER = spans.READY_MARKER


@dataclasses.dataclass(frozen=True)
class SpanScan:
  ready: List[int]      # marker present
  waiting: List[int]    # no marker yet


def mark_ready(span_dir: str) -> None:
  """Writes the completion marker (what a producer does after its last file)."""
  with open(os.path.join(span_dir, MARKER), 'w', encoding='utf-8'):
    pass


def scan(data_root: str) -> SpanScan:
  """Classifies every `span-<N>` folder under `data_root`."""
  ready, waiting = [], []
  for span in spans.span_dirs(data_root):
    if not os.path.exists(os.path.join(span.path, MARKER)):
      waiting.append(span.number)
      continue
    ready.append(span.number)
  return SpanScan(sorted(ready), sorted(waiting))
