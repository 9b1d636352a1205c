"""Live progress of a LocalDagRunner run, read from ML Metadata while the run goes on.

LocalDagRunner has no callbacks; every execution it starts or caches is recorded in
MLMD at once, so a background thread polls the store (read-only) and reports each
component as it starts and as it ends, with its state and elapsed time.
"""
import threading
from typing import Callable, Dict, Optional, Set

from ctpipe.metadata import reader as metadata

StartCallback = Callable[[str], None]
EndCallback = Callable[[metadata.ExecutionInfo], None]
FINAL_STATES = frozenset({'COMPLETE', 'CACHED', 'FAILED', 'CANCELED'})


class ProgressWatcher:
  """Polls MLMD for executions newer than `after_id` and reports their transitions."""

  def __init__(self, reader_factory: Callable[[], Optional[metadata.MetadataReader]],
               after_id: int, on_start: StartCallback, on_end: EndCallback,
               interval_s: float = 0.25):
    self._reader_factory = reader_factory
    self._after_id = after_id
    self._on_start = on_start
    self._on_end = on_end
    self._interval_s = interval_s
    self._started: Set[int] = set()
    self._ended: Set[int] = set()
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._loop, name='ctpipe-progress', daemon=True)
    self.seen: Dict[int, metadata.ExecutionInfo] = {}

  def __enter__(self) -> 'ProgressWatcher':
    self._thread.start()
    return self

  def __exit__(self, *exc) -> None:
    self._stop.set()
    self._thread.join(timeout=5)
    self.poll()  # report what finished between the last poll and the end of the run

  def _loop(self) -> None:
    while not self._stop.wait(self._interval_s):
      self.poll()

  def poll(self) -> None:
    try:
      reader = self._reader_factory()
      if reader is None:
        return
      executions = reader.executions_after(self._after_id)
    except Exception:  # pylint: disable=broad-except
      # The store may be busy or not created yet; the next poll catches up.
      return
    for execution in executions:
      self.seen[execution.id] = execution
      if execution.id not in self._started:
        self._started.add(execution.id)
        if execution.state not in FINAL_STATES:
          self._on_start(execution.node_id)
      if execution.state in FINAL_STATES and execution.id not in self._ended:
        self._ended.add(execution.id)
        self._on_end(execution)
    # The next polls read only from the oldest execution still running: each execution
    # read costs a context lookup, and a run records dozens.
    for execution in executions:
      if execution.state not in FINAL_STATES:
        break
      self._after_id = execution.id


