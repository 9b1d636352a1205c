"""The watcher's own record of which spans it has started and finished, one JSON line each.

ML Metadata says what was ingested (a span is never read twice); the ledger says which
spans a watcher (or a replay) has finished acting on, and holds the timeline rows. A
span started but never finished (the process died) is taken up again on restart:
its ingestion is then a cache hit, not a second read.
"""
import json
import os
import time
from typing import Dict, List, Optional, Set

LEDGER_FILE = 'ledger.jsonl'


class Ledger:

  def __init__(self, folder: str):
    self.path = os.path.join(folder, LEDGER_FILE)

  def _append(self, record: Dict[str, object]) -> None:
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    line = json.dumps({'time': time.time(), **record}, sort_keys=True)
    with open(self.path, 'a', encoding='utf-8') as f:
      f.write(line + '\n')
      f.flush()
      os.fsync(f.fileno())

  def records(self) -> List[Dict[str, object]]:
    if not os.path.exists(self.path):
      return []
    out = []
    with open(self.path, encoding='utf-8') as f:
      for line in f:
        line = line.strip()
        if not line:
          continue
        try:
          out.append(json.loads(line))
        except json.JSONDecodeError:
          continue  # a line cut short by a crash: its span counts as unfinished
    return out

  def started(self, span: int) -> None:
    self._append({'event': 'started', 'span': span})

  def finished(self, span: Optional[int], outcome: Dict[str, object]) -> None:
    """`span` None: a run for a trigger other than new data."""
    self._append({'event': 'finished', 'span': span, 'outcome': outcome})

  def finished_spans(self) -> Set[int]:
    return {int(r['span']) for r in self.records()
            if r.get('event') == 'finished' and r.get('span') is not None}

  def unfinished_spans(self) -> List[int]:
    done = self.finished_spans()
    return sorted({int(r['span']) for r in self.records()
                   if r.get('event') == 'started'} - done)

  def outcomes(self) -> List[Dict[str, object]]:
    """The finished spans' outcomes in the order they finished (the timeline)."""
    return [r['outcome'] for r in self.records() if r.get('event') == 'finished']

  def last_outcome(self, span: int) -> Optional[Dict[str, object]]:
    found = [o for o in self.outcomes() if o.get('span') == span]
    return found[-1] if found else None
