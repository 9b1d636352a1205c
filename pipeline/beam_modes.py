"""The Beam DirectRunner's mode for a local run, chosen from the size of its data.

One process (`in_memory`) pays no start-up per Beam step and wins on small windows;
one process per core (`multi_processing`) wins where per-example Python work dominates
(bench/scaling.py; docs/performance.md).
"""
import dataclasses
import enum
from typing import List, Optional, Sequence


class BeamMode(enum.Enum):
  AUTO = 'auto'  # chosen from the size of the window's data (choose_beam)
  IN_MEMORY = 'in_memory'
  MULTI_PROCESSING = 'multi_processing'


# What the configuration and the command line accept.
BEAM_MODE_NAMES = tuple(mode.value for mode in BeamMode)


# Names the image that holds this project's code. The DirectRunner never pulls it; it
# is passed so that TFX does not rebuild itself as an sdist for Beam workers before
# every Beam step (tfx.utils.dependency_utils), seconds a component.
LOCAL_SDK_IMAGE = 'ctpipe-local'

# From this much CSV in the window, `auto` runs Beam on one process per core; below it,
# in one process. Set by bench/scaling.py on 2 cores (see README, Performance).
MULTI_PROCESSING_FROM_BYTES = 100 * 2**20


@dataclasses.dataclass(frozen=True)
class BeamChoice:
  mode: BeamMode  # IN_MEMORY or MULTI_PROCESSING
  workers: int
  why: str

  def describe(self) -> str:
    return (f'{self.mode.value}, {self.workers} worker{"s" if self.workers > 1 else ""} '
            f'({self.why})')


def choose_beam(requested: BeamMode, window_bytes: int, cores: int) -> BeamChoice:
  """The DirectRunner mode for a run whose training window holds `window_bytes` of CSV."""
  size = f'window {window_bytes / 2**20:.1f} MiB of CSV'
  if requested is BeamMode.IN_MEMORY:
    return BeamChoice(BeamMode.IN_MEMORY, 1, f'as configured; {size}')
  if requested is BeamMode.MULTI_PROCESSING:
    return BeamChoice(BeamMode.MULTI_PROCESSING, max(cores, 1), f'as configured; {size}')
  if cores > 1 and window_bytes >= MULTI_PROCESSING_FROM_BYTES:
    return BeamChoice(BeamMode.MULTI_PROCESSING, cores,
                      f'auto: {size} >= {MULTI_PROCESSING_FROM_BYTES / 2**20:.0f} MiB')
  limit = (f'< {MULTI_PROCESSING_FROM_BYTES / 2**20:.0f} MiB' if cores > 1 else 'one core')
  return BeamChoice(BeamMode.IN_MEMORY, 1, f'auto: {size} {limit}')


def beam_args(choice: BeamChoice) -> List[str]:
  """DirectRunner arguments for a BeamChoice."""
  # cloudpickle: dill resets logging levels on every (un)pickle, which is slow.
  common = [f'--sdk_container_image={LOCAL_SDK_IMAGE}', '--pickle_library=cloudpickle']
  if choice.mode is BeamMode.MULTI_PROCESSING:
    return common + ['--direct_running_mode=multi_processing',
                     f'--direct_num_workers={choice.workers}']
  return common + ['--direct_running_mode=in_memory', '--direct_num_workers=1']


# Beam's runners that run in this machine's processes; anything else (Dataflow) scales out.
LOCAL_RUNNERS = (None, '', 'DirectRunner', 'direct', 'SwitchingDirectRunner',
                 'BundleBasedDirectRunner')


def runs_locally(beam_args: Optional[Sequence[str]]) -> bool:
  """Whether these Beam arguments run Beam on this machine (no runner, or the DirectRunner).

  Steps that then do their work in their own process read it (see
  pipeline/in_process).
  """
  from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions  # pylint: disable=g-import-not-at-top
  return PipelineOptions(list(beam_args or [])).view_as(StandardOptions).runner in LOCAL_RUNNERS
