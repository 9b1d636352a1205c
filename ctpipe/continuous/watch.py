"""`ctpipe watch`: polls the data root and a schedule, and runs the pipeline when a trigger fires.

Each poll: spans that became ready (completion marker, see readiness.py) and were
never ingested are run one at a time, oldest first; a span a previous watcher started
but never finished is taken up again (its ingestion is a cache hit). Then, when a
`--cron` schedule is due, a scheduled run trains on the current window (`--tune-cron`: it
searches hyperparameters first); when a
feedback check is configured, served requests are checked for skew and live metrics
(see feedback.py). Every run records its trigger as its reason in ML Metadata.
"""
import dataclasses
import datetime
import os
import time
from typing import Callable, Dict, List, Optional

from ctpipe.continuous import ledger as ledger_lib
from ctpipe.continuous import readiness
from ctpipe.continuous.span_runs import Outcome, RetrainPolicy, SpanRunner
from pipeline import definition, local_runner, spans


def next_due(cron: str, after: float) -> float:
  """The first time a cron expression fires after `after` (seconds since the epoch, UTC)."""
  import croniter  # pylint: disable=g-import-not-at-top
  base = datetime.datetime.fromtimestamp(after, tz=datetime.timezone.utc)
  return croniter.croniter(cron, base).get_next(float)


def check_cron(cron: str) -> None:
  """Raises ValueError with a readable message for an invalid expression."""
  import croniter  # pylint: disable=g-import-not-at-top
  if not croniter.croniter.is_valid(cron):
    raise ValueError(f'invalid cron expression {cron!r}; five fields: minute hour '
                     'day-of-month month day-of-week, e.g. "0 3 * * *" (03:00 UTC daily)')


@dataclasses.dataclass(frozen=True)
class WatchOptions:
  policy: RetrainPolicy = RetrainPolicy.EVERY_SPAN
  interval_seconds: float = 60.0
  cron: Optional[str] = None
  tune_cron: Optional[str] = None  # a run that searches hyperparameters first, on this schedule

  def __post_init__(self):
    if self.interval_seconds <= 0:
      raise ValueError(f'interval must be > 0 seconds, got {self.interval_seconds}')
    for cron in (self.cron, self.tune_cron):
      if cron is not None:
        check_cron(cron)


# A check run once per poll that may ask for a run: returns its reason, or None.
ExtraTrigger = Callable[[], Optional[str]]


class Watcher:
  """One home, one data root; `poll()` acts on everything due now."""

  def __init__(self, home: local_runner.Home, data_root: str, runner: SpanRunner,
               options: WatchOptions, pipeline_name: str,
               on_event: Callable[[str], None] = lambda text: None,
               on_outcome: Callable[[Outcome], None] = lambda outcome: None,
               extra_triggers: Optional[List[ExtraTrigger]] = None,
               clock: Callable[[], float] = time.time, ledger_dir: Optional[str] = None,
               periods: Optional[Dict[int, str]] = None):
    self.home = home
    self.data_root = os.path.abspath(data_root)
    self.runner = runner
    self.options = options
    self.pipeline_name = pipeline_name
    self.on_event = on_event
    self.on_outcome = on_outcome
    self.extra_triggers = list(extra_triggers or [])
    self.clock = clock
    self.ledger = ledger_lib.Ledger(ledger_dir or os.path.join(home.root, 'watch'))
    self._cron_due = next_due(options.cron, clock()) if options.cron else None
    self._tune_due = next_due(options.tune_cron, clock()) if options.tune_cron else None
    self._reported_waiting: set = set()
    self.periods = dict(periods or {})  # span -> calendar period, for the timeline

  def _ingested(self) -> List[int]:
    reader = self.home.reader(self.pipeline_name)
    return reader.spans_of(definition.EXAMPLE_GEN) if reader else []

  def pending(self) -> List[int]:
    """Spans to act on now, oldest first."""
    scan = readiness.scan(self.data_root)
    waiting = set(scan.waiting) - self._reported_waiting
    if waiting:
      self.on_event(f'waiting for span(s) {sorted(waiting)}: no {readiness.MARKER} marker yet')
      self._reported_waiting |= waiting
    finished = self.ledger.finished_spans()
    ingested = set(self._ingested())
    unfinished = [s for s in self.ledger.unfinished_spans() if s in scan.ready]
    fresh = [s for s in scan.ready if s not in ingested and s not in finished]
    return sorted(set(unfinished) | set(fresh))

  def _handle_span(self, span: int) -> Outcome:
    scan = readiness.scan(self.data_root)
    available = sorted(set(scan.ready) | set(self._ingested()))
    finished = self.ledger.finished_spans()
    newest_done = max(finished) if finished else None
    late = newest_done is not None and span < newest_done
    self.ledger.started(span)
    self.on_event(f'span {span}: ready' + (' (late: ingest only)' if late else ''))
    outcome = self.runner.new_span(span, [s for s in available if s <= max(span, newest_done or 0)],
                                   late=late)
    outcome.period = self.periods.get(span)
    outcome.rows = next((spans.count_rows(s) for s in spans.span_dirs(self.data_root)
                         if s.number == span), None)
    self.ledger.finished(span, outcome.to_dict())
    self.on_outcome(outcome)
    return outcome

  def _trigger(self, reason: str, tune: bool = False) -> Optional[Outcome]:
    ingested = self._ingested()
    if not ingested:
      self.on_event(f'{reason}: nothing ingested yet, no run')
      return None
    scan = readiness.scan(self.data_root)
    available = sorted(set(scan.ready) | set(ingested))
    newest = max(ingested)
    self.on_event(f'{reason}: {"tuning and " if tune else ""}training on the window ending at '
                  f'span {newest}')
    outcome = self.runner.triggered(reason, newest, [s for s in available if s <= newest],
                                    tune=tune)
    self.ledger.finished(None, outcome.to_dict())  # type: ignore[arg-type]
    self.on_outcome(outcome)
    return outcome

  def poll(self) -> List[Outcome]:
    """Acts on every pending span, then on a due schedule and the extra triggers."""
    outcomes = [self._handle_span(span) for span in self.pending()]
    now = self.clock()
    if self._tune_due is not None and now >= self._tune_due:
      self._tune_due = next_due(self.options.tune_cron, now)
      if self._cron_due is not None and now >= self._cron_due:
        self._cron_due = next_due(self.options.cron, now)  # the tuning run trains too
      done = self._trigger(f'tuning schedule: {self.options.tune_cron}', tune=True)
      if done:
        outcomes.append(done)
    if self._cron_due is not None and now >= self._cron_due:
      self._cron_due = next_due(self.options.cron, now)
      done = self._trigger(f'schedule: {self.options.cron}')
      if done:
        outcomes.append(done)
    for check in self.extra_triggers:
      reason = check()
      if reason:
        done = self._trigger(reason)
        if done:
          outcomes.append(done)
    return outcomes

  def seconds_to_next_poll(self) -> float:
    wait = self.options.interval_seconds
    for due in (self._cron_due, self._tune_due):
      if due is not None:
        wait = min(wait, max(0.0, due - self.clock()))
    return wait

  def run_forever(self, sleep: Callable[[float], None] = time.sleep) -> None:
    while True:
      self.poll()
      sleep(self.seconds_to_next_poll())
