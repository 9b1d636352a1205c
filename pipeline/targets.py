"""Typed configuration per target (`local` | `vertex`), read from a YAML file plus overrides.

`config/ctpipe.yaml` (in the repository) holds both targets and the pipeline settings
they share. Loading is explicit (nothing is read at import time, nothing from the
environment); `--set vertex.region=europe-west4` style overrides are applied to the
parsed YAML before the dataclasses are built, so they are type-checked the same way.
A mistake is one readable line: unknown key, missing value, wrong type.
"""
import dataclasses
import enum
import typing
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from pipeline.beam_modes import BEAM_MODE_NAMES
from pipeline.config import PipelineSettings, replace_settings


class Target(enum.Enum):
  LOCAL = 'local'
  VERTEX = 'vertex'


class ConfigError(ValueError):
  """The configuration file or an override is wrong; the message says where."""


@dataclasses.dataclass(frozen=True)
class MySQLStore:
  """A MySQL-compatible metadata store; the password is read from `password_file`
  (or prompted for), never written into the config or into ML Metadata."""
  host: str
  database: str
  user: str
  port: int = 3306
  password_file: str = ''


@dataclasses.dataclass(frozen=True)
class LocalTarget:
  home: str = '.ctpipe'
  data_root: str = 'data/taxi'
  schema: str = 'schema/schema.pbtxt'
  beam_mode: str = 'auto'  # auto: chosen from the window's size (pipeline.beam_modes)
  # None: SQLite in the home (metadata.db).
  mysql: Optional[MySQLStore] = None

  def __post_init__(self):
    if self.beam_mode not in BEAM_MODE_NAMES:
      raise ConfigError(f'local.beam_mode: one of {", ".join(BEAM_MODE_NAMES)}, '
                        f'got {self.beam_mode!r}')


@dataclasses.dataclass(frozen=True)
class DataflowSettings:
  machine_type: str = 'n1-standard-4'
  max_workers: int = 4
  disk_size_gb: int = 50
  # Dataflow's own staging and temp files; default: <pipeline_root>/dataflow-tmp.
  temp_location: str = ''
  use_public_ips: bool = False

  def __post_init__(self):
    if self.max_workers < 1 or self.disk_size_gb < 10:
      raise ConfigError('vertex.dataflow: max_workers >= 1 and disk_size_gb >= 10')


@dataclasses.dataclass(frozen=True)
class VertexTraining:
  """The Trainer on Vertex AI Training (tfx.extensions.google_cloud_ai_platform.Trainer)."""
  enabled: bool = False
  machine_type: str = 'n1-standard-8'


@dataclasses.dataclass(frozen=True)
class VertexEndpoint:
  """Push to a Vertex AI Endpoint (tfx.extensions.google_cloud_ai_platform.Pusher)
  instead of the serving bucket alone."""
  enabled: bool = False
  endpoint_name: str = 'ctpipe-taxi'
  machine_type: str = 'n1-standard-2'
  serving_image: str = 'us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest'


@dataclasses.dataclass(frozen=True)
class VertexTarget:
  project: str
  region: str
  pipeline_root: str   # gs://...: every artifact of every run
  data_root: str       # gs://.../span-<N>/*.csv
  serving_bucket: str  # gs://...: pushed models, <serving_bucket>/<model>/<version>/
  image: str           # the project's image (see Dockerfile); every step and Dataflow workers
  service_account: str
  network: str = ''    # projects/<number>/global/networks/<name>; '' = the default network
  subnetwork: str = ''  # for Dataflow workers: regions/<region>/subnetworks/<name>
  schema: str = '/ctpipe/schema/schema.pbtxt'  # inside the image
  enable_caching: bool = True
  labels: Tuple[Tuple[str, str], ...] = ()
  dataflow: DataflowSettings = DataflowSettings()
  training: VertexTraining = VertexTraining()
  endpoint: VertexEndpoint = VertexEndpoint()

  def __post_init__(self):
    for name in ('pipeline_root', 'data_root', 'serving_bucket'):
      if not getattr(self, name).startswith('gs://'):
        raise ConfigError(f'vertex.{name} must be a gs:// URI, got {getattr(self, name)!r}')
    if not self.image or ':' not in self.image.rsplit('/', 1)[-1]:
      raise ConfigError(f'vertex.image needs a tag (…/ctpipe:0.1.0), got {self.image!r}')

  @property
  def dataflow_temp(self) -> str:
    return self.dataflow.temp_location or f'{self.pipeline_root.rstrip("/")}/dataflow-tmp'


@dataclasses.dataclass(frozen=True)
class ProjectConfig:
  pipeline: PipelineSettings
  local: LocalTarget
  vertex: Optional[VertexTarget]


# --- building dataclasses from plain values, with readable errors -----------------------

def _build(cls, values: Any, where: str):
  if dataclasses.is_dataclass(cls):
    if not isinstance(values, Mapping):
      raise ConfigError(f'{where}: expected a mapping, got {type(values).__name__}')
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
      raise ConfigError(f'{where}: unknown key(s) {unknown}; known: {sorted(fields)}')
    kwargs = {}
    for name, field in fields.items():
      if name in values:
        kwargs[name] = _build(hints[name], values[name], f'{where}.{name}')
      elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
        raise ConfigError(f'{where}.{name} is required')
    try:
      return cls(**kwargs)
    except ConfigError:
      raise
    except (TypeError, ValueError) as e:
      raise ConfigError(f'{where}: {e}') from e
  origin = typing.get_origin(cls)
  args = typing.get_args(cls)
  if origin is typing.Union and type(None) in args:  # Optional[X]
    if values is None:
      return None
    return _build(next(a for a in args if a is not type(None)), values, where)
  if origin is tuple:
    if isinstance(values, Mapping) and args == (Tuple[str, str], Ellipsis):
      return tuple(sorted((str(k), str(v)) for k, v in values.items()))  # labels: {k: v}
    if not isinstance(values, (list, tuple)):
      raise ConfigError(f'{where}: expected a list, got {values!r}')
    item = args[0]
    return tuple(_build(item, v, f'{where}[{i}]') for i, v in enumerate(values))
  if cls is bool:
    if not isinstance(values, bool):
      raise ConfigError(f'{where}: expected true or false, got {values!r}')
    return values
  if cls in (int, float):
    if isinstance(values, bool) or not isinstance(values, (int, float)) or (
        cls is int and not float(values).is_integer()):
      raise ConfigError(f'{where}: expected {cls.__name__}, got {values!r}')
    return cls(values)
  if cls is str:
    if not isinstance(values, str):
      raise ConfigError(f'{where}: expected a string, got {values!r}')
    return values
  raise ConfigError(f'{where}: unsupported type {cls}')


def _override(tree: Dict[str, Any], assignment: str) -> None:
  """Applies 'a.b.c=value' to the parsed YAML; the value is parsed as YAML (1, true, text)."""
  import yaml  # pylint: disable=g-import-not-at-top
  if '=' not in assignment:
    raise ConfigError(f'--set {assignment!r}: expected key=value, e.g. vertex.region=europe-west4')
  key, text = assignment.split('=', 1)
  parts = key.strip().split('.')
  if not all(parts):
    raise ConfigError(f'--set {assignment!r}: empty key')
  node = tree
  for part in parts[:-1]:
    child = node.setdefault(part, {})
    if not isinstance(child, dict):
      raise ConfigError(f'--set {key}: {part} is not a mapping')
    node = child
  node[parts[-1]] = yaml.safe_load(text) if text.strip() else ''


def _pipeline_settings(values: Mapping[str, Any]) -> PipelineSettings:
  known = {'window_spans', 'epochs', 'min_auc', 'edge_export', 'warm_start', 'analyzer_cache'}
  unknown = sorted(set(values) - known)
  if unknown:
    raise ConfigError(f'pipeline: unknown key(s) {unknown}; known: {sorted(known)}')
  typed = {'window_spans': int, 'epochs': int, 'min_auc': float, 'edge_export': bool,
           'warm_start': bool, 'analyzer_cache': bool}
  kwargs = {k: _build(typed[k], v, f'pipeline.{k}') for k, v in values.items()}
  try:
    return replace_settings(PipelineSettings(), **kwargs)
  except ValueError as e:
    raise ConfigError(f'pipeline: {e}') from e


ALL_SECTIONS = ('pipeline', 'local', 'vertex')


def parse(tree: Optional[Mapping[str, Any]], overrides: Sequence[str] = (),
          sections: Sequence[str] = ALL_SECTIONS) -> ProjectConfig:
  """A ProjectConfig from parsed YAML (a mapping) and `key=value` overrides.

  Only `sections` are checked (a local run does not need a valid vertex section).
  """
  import copy  # pylint: disable=g-import-not-at-top
  tree = copy.deepcopy(dict(tree or {}))
  for assignment in overrides:
    _override(tree, assignment)
  unknown = sorted(set(tree) - set(ALL_SECTIONS))
  if unknown:
    raise ConfigError(f'unknown section(s) {unknown}; the file has pipeline, local, vertex')
  vertex = tree.get('vertex') if 'vertex' in sections else None
  return ProjectConfig(
      pipeline=_pipeline_settings(tree.get('pipeline') or {}),
      local=_build(LocalTarget, tree.get('local') or {}, 'local'),
      vertex=_build(VertexTarget, vertex, 'vertex') if vertex else None)


def load(path: str, overrides: Sequence[str] = (),
         sections: Sequence[str] = ALL_SECTIONS) -> ProjectConfig:
  import yaml  # pylint: disable=g-import-not-at-top
  try:
    with open(path, encoding='utf-8') as f:
      tree = yaml.safe_load(f)
  except FileNotFoundError as e:
    raise ConfigError(f'config file {path} not found') from e
  except yaml.YAMLError as e:
    raise ConfigError(f'{path} is not valid YAML: {e}') from e
  if tree is not None and not isinstance(tree, Mapping):
    raise ConfigError(f'{path}: the top level must be a mapping')
  try:
    return parse(tree, overrides, sections)
  except ConfigError as e:
    raise ConfigError(f'{path}: {e}') from e


def require_vertex(config: ProjectConfig) -> VertexTarget:
  if config.vertex is None:
    raise ConfigError('no vertex section in the config; copy the example in config/ctpipe.yaml')
  return config.vertex
