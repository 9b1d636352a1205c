"""AtomicPusher: TFX's Pusher executor publishing each version atomically (publishing.py)."""
from pipeline.components.atomic_pusher.executor import (ROLLBACK_PROPERTY, AtomicPusherExecutor)

__all__ = ['ROLLBACK_PROPERTY', 'AtomicPusherExecutor']
