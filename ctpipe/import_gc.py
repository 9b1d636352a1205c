"""The garbage collector while a long-lived command imports its stack: paused, then frozen.

`ctpipe run` runs every component in its own process (LocalDagRunner), and `ctpipe
serve` answers requests for as long as it lives. Importing TensorFlow, TFX, Beam,
TFDV and TFMA creates about a million long-lived objects and next to no garbage, yet
CPython's collector walks every one of them at each full collection, for next to
nothing freed.

So collection pauses while the modules import, and `gc.freeze()` then moves everything
alive into the permanent generation, which later collections skip (CPython's advice
for long-lived processes). Garbage made afterwards (traced graphs, Beam pipelines,
requests) is collected as usual; the little garbage the imports make is frozen with
them and never freed (figures: docs/performance.md).
"""
import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def frozen() -> Iterator[None]:
  """Pauses collection inside the block; on leaving it (even by an error), freezes every
  object alive and restores collection as it was."""
  enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    gc.freeze()
    if enabled:
      gc.enable()
