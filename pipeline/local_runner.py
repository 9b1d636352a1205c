"""The local runner: resolves a home folder, locks it, backfills the window, runs LocalDagRunner.

A home holds everything a run writes: `pipeline/` (artifacts), `metadata.db` (ML
Metadata, SQLite), `serving/<model>/<version>/` (pushed models) and `logs/`.
"""
import contextlib
import dataclasses
import hashlib
import logging
import os
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ctpipe.config import PipelineSettings
from ctpipe.home import Home
from ctpipe.metadata import writes
from ctpipe.metadata.reader import ExecutionInfo, MetadataReader
from pipeline import definition, progress, spans, window as window_lib
from pipeline.components.data_gate.anomalies import Anomaly
from pipeline.beam_modes import BeamChoice, BeamMode, beam_args, choose_beam
from pipeline.components.drift_check import drift as drift_lib
from pipeline.components import drift_check
from pipeline.components.data_gate import DataGateError


def user_code_version() -> str:
  """A hash of the `models` package's source, so that a code change invalidates the cache."""
  import models  # pylint: disable=g-import-not-at-top
  digest = hashlib.sha256()
  root = os.path.dirname(models.__file__)
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
    for name in sorted(filenames):
      if name.endswith('.py'):
        path = os.path.join(dirpath, name)
        digest.update(os.path.relpath(path, root).encode())
        with open(path, 'rb') as f:
          digest.update(f.read())
  return digest.hexdigest()[:16]


def check_definition_against_schema(dataset, schema_file: str) -> None:
  """Raises ValueError, naming the definition's key, for a column the schema lacks.

  Without it, Transform or the Evaluator fails deep inside with a bare KeyError.
  """
  from pipeline import schema_tool  # pylint: disable=g-import-not-at-top
  schema = schema_tool.load(schema_file)
  known = {f.name for f in schema.feature} if schema is not None else set()
  treatments = dataset.features
  keys = [(f'dataset.features.{kind}', name) for kind in
          ('amounts', 'numbers', 'ranged', 'hashed', 'vocabulary') for name in getattr(treatments, kind)]
  if not dataset.label_fn:
    keys.append(('dataset.label', dataset.label))
  keys += [('dataset.label_sources', name) for name in dataset.label_sources]
  keys += [('dataset.slices', name) for name in dataset.slices]
  for key, name in keys:
    if name not in known:
      raise ValueError(f'{key} names {name!r}, which the curated schema {schema_file} does not '
                       'have: fix the definition or the schema (`ctpipe schema`)')
  label = next((f for f in schema.feature if f.name == dataset.label), None) if schema else None
  if dataset.task == 'multiclass' and label is not None and label.HasField('string_domain'):
    domain = list(label.string_domain.value)
    if sorted(domain) != sorted(dataset.classes):
      raise ValueError(f'dataset.classes {list(dataset.classes)} are not the values the curated '
                       f'schema {schema_file} allows for {dataset.label!r} ({domain}): the model '
                       'answers one probability per class, so the two must agree')


def rejection_error(span: int, reason: str) -> DataGateError:
  """A span that cannot be read, said as the data gate says what it stops on."""
  return DataGateError([Anomaly(span, 'files', '', 'cannot be read', reason)])


@dataclasses.dataclass
class RunObserver:
  """What the runner reports while it works; the CLI prints, tests may record."""
  on_phase: Callable[[str], None] = lambda text: None
  on_start: Callable[[str], None] = lambda node_id: None
  on_end: Callable[[ExecutionInfo], None] = lambda execution: None
  # A finished tuning trial (models/tuning.py's record: trial, hyperparameters, value, ...).
  on_trial: Callable[[Dict[str, Any]], None] = lambda trial: None


# How a run decides whether to search hyperparameters first.
# never: no search, the newest tuned hyperparameters (or the configured ones); configured:
# no search and the configured hyperparameters even when tuned ones exist.
TUNE_ALWAYS, TUNE_AUTO, TUNE_NEVER, TUNE_CONFIGURED = 'always', 'auto', 'never', 'configured'
TRIAL_LOGGER = 'ctpipe.tuning'  # models/tuning.py logs each finished trial on it


class _TrialHandler(logging.Handler):
  def __init__(self, on_trial):
    super().__init__(logging.INFO)
    self.on_trial = on_trial

  def emit(self, record: logging.LogRecord) -> None:
    trial = getattr(record, 'ctpipe_trial', None)
    if trial is not None:
      try:
        self.on_trial(trial)
      except Exception:  # pylint: disable=broad-except
        self.handleError(record)  # progress output never fails a search


@contextlib.contextmanager
def _trials_to(on_trial) -> Iterator[None]:
  """Hands every finished trial of a search in this process to `on_trial`."""
  logger = logging.getLogger(TRIAL_LOGGER)
  handler = _TrialHandler(on_trial)
  logger.addHandler(handler)
  level = logger.level
  logger.setLevel(logging.INFO)
  try:
    yield
  finally:
    logger.removeHandler(handler)
    logger.setLevel(level)


@dataclasses.dataclass
class RunResult:
  status: str  # 'completed' | 'data_gate' | 'ingested'
  plan: window_lib.SpanPlan  # its window: what this run trained on
  first_execution_id: int  # executions of this invocation have larger ids
  seconds: float
  gate_error: Optional[DataGateError] = None
  # The newest span's drift against the training window (empty: none, or nothing to compare).
  drift: List[drift_lib.Measurement] = dataclasses.field(default_factory=list)
  reason: str = ''  # as recorded in ML Metadata
  tuned: bool = False  # this run searched hyperparameters (TFX's Tuner)

  @property
  def drifted(self) -> List[drift_lib.Measurement]:
    return drift_lib.beyond(self.drift)


def find_cause(error: BaseException, kind: type) -> Optional[BaseException]:
  """The first exception of `kind` in `error`'s cause/context chain."""
  seen = set()
  while error is not None and id(error) not in seen:
    if isinstance(error, kind):
      return error
    seen.add(id(error))
    error = error.__cause__ or error.__context__
  return None


class LocalRun:
  """One `ctpipe run`: backfill of the window, then the full pipeline for the newest span."""

  def __init__(self, home: Home, data_root: str, schema_file: str, settings: PipelineSettings,
               beam_mode: BeamMode = BeamMode.AUTO, observer: Optional[RunObserver] = None,
               reason: str = 'manual', tune: str = TUNE_AUTO):
    if tune not in (TUNE_ALWAYS, TUNE_AUTO, TUNE_NEVER, TUNE_CONFIGURED):
      raise ValueError(f'tune: one of always, auto, never, configured; got {tune!r}')
    self.home = home
    # always: search first; auto: when the data set has no tuned hyperparameters yet
    # (and tuning.auto is on); never: train with the newest tuned ones, or the configured.
    self.tune = tune
    self.reason = reason  # why this run happened; recorded on its runs in MLMD
    self.data_root = os.path.abspath(data_root)
    self.schema_file = os.path.abspath(schema_file)
    self.settings = settings
    self.beam_mode = beam_mode
    self.beam: Optional[BeamChoice] = None  # decided by run() from the window's size
    self.observer = observer or RunObserver()
    self._reader: Optional[MetadataReader] = None
    self._code_version = user_code_version()  # hashed once, not once per span

  def reader(self) -> Optional[MetadataReader]:
    if self._reader is None:
      self._reader = self.home.reader(self.settings.pipeline_name)
    return self._reader

  def _build(self, span: int, ingest_only: bool, window: Sequence[int] = (),
             tune: bool = False):
    return definition.create_pipeline(
        self.settings, self.home.paths(self.data_root, self.schema_file),
        beam_pipeline_args=beam_args(self.beam),
        metadata_connection_config=self.home.metadata_config(),
        span=span, window=window, ingest_only=ingest_only,
        user_code_version=self._code_version, tune=tune,
        reuse_tuned=self.tune != TUNE_CONFIGURED)

  def tunes(self) -> bool:
    """Whether this run searches hyperparameters before training."""
    if self.tune != TUNE_AUTO:
      return self.tune == TUNE_ALWAYS
    if not self.settings.tuning.auto:
      return False
    reader = self.reader()
    return not (reader and reader.node_outputs(definition.TUNER, 'HyperParameters'))

  def _run_dag(self, pipeline, reason: str) -> Tuple[List[drift_lib.Measurement], str]:
    """Runs one pipeline; returns its span's drift and the reason recorded for it."""
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # pylint: disable=g-import-not-at-top
    reader = self.reader()
    after = reader.max_execution_id() if reader else 0
    measured: List[drift_lib.Measurement] = []
    try:
      with progress.ProgressWatcher(self.reader, after, self.observer.on_start,
                                    self.observer.on_end), _trials_to(self.observer.on_trial):
        LocalDagRunner().run(pipeline)
    finally:
      measured = self._drift_after(after)
      over = drift_lib.beyond(measured)
      if over:  # the reason says that the span drifted, whatever started the run
        reason = f'{reason}; {drift_lib.summary(over, drift_lib.DRIFT)}'
      writes.record_reason(self.home.metadata_config(), after, reason)
    return measured, reason

  def _drift_after(self, execution_id: int) -> List[drift_lib.Measurement]:
    reader = self.reader()
    if reader is None:
      return []
    for execution in reversed(reader.executions_after(execution_id)):
      if execution.node_id == definition.DRIFT_CHECK:
        for report in reader.execution_outputs(execution.id).get(drift_check.REPORT_KEY, []):
          return drift_check.read_report(report.uri)
    return []

  def _span(self, number: int) -> spans.Span:
    return next(s for s in spans.span_dirs(self.data_root) if s.number == number)

  def _still_rejected(self, reader, available: Sequence[int], ingested: Sequence[int]
                      ) -> Dict[int, str]:
    """Span -> reason, for spans rejected earlier whose files have not changed since."""
    if reader is None:
      return {}
    found = {}
    for span, rejection in reader.span_rejections().items():
      if span in available and span not in ingested and (
          rejection.fingerprint == spans.fingerprint(self._span(span))):
        found[span] = rejection.reason
    return found

  def _reject_if_unreadable(self, number: int) -> Optional[str]:
    """Checks a span's files before ingesting them; an unreadable span is recorded as
    rejected in ML Metadata (with the reason) and the reason returned."""
    span = self._span(number)
    reason = spans.unreadable_reason(span)
    if reason:
      writes.record_span_rejection(self.home.metadata_config(), self.settings.pipeline_name, number,
                             reason, spans.fingerprint(span), self.reason)
      self._reader = None  # the store may have been created just now
    return reason

  def run(self, newest: Optional[int] = None, available: Optional[Sequence[int]] = None,
          ingest_only: bool = False) -> RunResult:
    """Runs the pipeline for span `newest` (default: the newest available span).

    `available` limits the spans a run may read (default: every span under the data
    root); `ingest_only` stops after validation and the drift check (no training).
    """
    if not os.path.isfile(self.schema_file):
      raise FileNotFoundError(f'curated schema {self.schema_file} not found; '
                              'create it with `ctpipe schema`')
    check_definition_against_schema(self.settings.dataset, self.schema_file)
    if available is None:
      available = [s.number for s in spans.list_spans(self.data_root)]
    if newest is not None:
      if newest not in available:
        raise ValueError(f'span {newest} is not among the available spans {sorted(available)}')
      available = [s for s in available if s <= newest]
    if not available:
      raise spans.SpanLayoutError(f'no span to run in {self.data_root}')
    self.home.check_store()
    with self.home.locked():
      start = time.time()
      reader = self.reader()
      if reader:
        orphans = writes.cancel_orphaned_executions(self.home.metadata_config())
        if orphans:
          self.observer.on_phase(f'executions {orphans} were left running by a run that died; '
                                 'marked canceled, their work will be redone')
      first_id = reader.max_execution_id() if reader else 0
      ingested = reader.spans_of(definition.EXAMPLE_GEN) if reader else []
      validated = reader.spans_of(definition.DATA_GATE) if reader else []
      rejected = self._still_rejected(reader, available, ingested)
      plan = window_lib.plan(available, sorted(set(ingested) | set(rejected)), validated,
                             self.settings.window_spans)
      self.beam = choose_beam(self.beam_mode, spans.csv_bytes(self.data_root, plan.window),
                              os.cpu_count() or 1)
      self.observer.on_phase(f'Beam: {self.beam.describe()}')
      if plan.excluded:
        self.observer.on_phase(f'spans {plan.excluded} failed the data gate in an earlier run; '
                               'the window goes on without them')
      measured: List[drift_lib.Measurement] = []
      reason = self.reason
      if plan.newest not in ingested:
        reason = rejected.get(plan.newest) or self._reject_if_unreadable(plan.newest)
        if reason:
          self.observer.on_phase(f'span {plan.newest} cannot be read: {reason}')
          return RunResult('data_gate', plan, first_id, time.time() - start,
                           gate_error=rejection_error(plan.newest, reason), reason=self.reason)
      try:
        for span in plan.backfill:
          unreadable = self._reject_if_unreadable(span)
          if unreadable:
            self.observer.on_phase(f'backfill: span {span} cannot be read ({unreadable}); '
                                   'rejected, the window goes on without it')
            continue
          self.observer.on_phase(f'backfill: ingesting span {span} for the training window')
          self._run_dag(self._build(span, ingest_only=True), f'backfill for {self.reason}')
        if plan.backfill:  # a backfilled span may have failed the gate
          reader = self.reader()
          plan = dataclasses.replace(plan, window=window_lib.window(
              reader.spans_of(definition.DATA_GATE) if reader else [], plan.newest,
              self.settings.window_spans))
        tuned = not ingest_only and self.tunes()
        if ingest_only:
          self.observer.on_phase(f'ingest: span {plan.newest} (validation and drift, no training)')
        else:
          self.observer.on_phase(f'run: span {plan.newest}, window of spans '
                                 f'{window_lib.describe(plan.window)}')
        if tuned:
          budget = self.settings.tuning
          self.observer.on_phase(
              f'tuning: {budget.strategy} search, up to {budget.max_trials} trials or '
              f'{budget.max_minutes:g} min, on the training split alone '
              f'({budget.validation_share:.0%} of it held out to validate trials)')
        measured, reason = self._run_dag(
            self._build(plan.newest, ingest_only=ingest_only, window=plan.window, tune=tuned),
            self.reason + ('; tuning: no tuned hyperparameters yet'
                           if tuned and self.tune == TUNE_AUTO else ''))
      except Exception as e:  # pylint: disable=broad-except
        gate = find_cause(e, DataGateError)
        if gate is None:
          raise
        return RunResult('data_gate', plan, first_id, time.time() - start, gate_error=gate,
                         drift=self._drift_after(first_id), reason=self.reason)
      status = 'ingested' if ingest_only else 'completed'
      return RunResult(status, plan, first_id, time.time() - start, drift=measured,
                       reason=reason, tuned=tuned)
