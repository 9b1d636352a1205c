"""Publishing a SavedModel into TF Serving's layout without ever exposing a partial version.

TF Serving's file-system source serves `<base>/<model>/<integer version>/` and ignores
every other name. A version is first copied to a hidden sibling folder, then renamed
into place in one step, so a poller sees either nothing or the whole model.
"""
import os
import re
import shutil
from typing import List, Optional

import tensorflow as tf

INCOMING_PREFIX = '.incoming-'
_VERSION_DIR = re.compile(r'^\d+$')


class PublishError(OSError):
  """A version could not be published (disk full, permissions); nothing partial is left."""


def _why(error: BaseException) -> str:
  """The first cause of a failed copy, in a few words ("No space left on device")."""
  if isinstance(error, shutil.Error) and error.args and isinstance(error.args[0], list):
    first = error.args[0][0] if error.args[0] else None
    if first and len(first) == 3:  # (source, destination, "[Errno 28] No space ...: paths")
      found = re.match(r'\[Errno (\d+)\]', str(first[2]))
      return os.strerror(int(found.group(1))) if found else str(first[2])
  if isinstance(error, OSError) and error.strerror:
    return error.strerror
  return str(error) or type(error).__name__


def versions(model_base: str) -> List[int]:
  """Integer versions published under `model_base`, ascending."""
  if not tf.io.gfile.isdir(model_base):
    return []
  return sorted(int(name.rstrip('/')) for name in tf.io.gfile.listdir(model_base)
                if _VERSION_DIR.match(name.rstrip('/')))


def remove_stale_incoming(model_base: str) -> List[str]:
  """Deletes copies left by an interrupted publish (they are never served)."""
  removed = []
  if tf.io.gfile.isdir(model_base):
    for name in tf.io.gfile.listdir(model_base):
      if name.startswith(INCOMING_PREFIX):
        path = os.path.join(model_base, name.rstrip('/'))
        tf.io.gfile.rmtree(path)
        removed.append(path)
  return removed


def _fingerprint(saved_model_dir: str) -> bytes:
  path = os.path.join(saved_model_dir, 'fingerprint.pb')
  if not tf.io.gfile.exists(path):
    return b''
  with tf.io.gfile.GFile(path, 'rb') as f:
    return f.read()


def already_published(saved_model_dir: str, model_base: str) -> Optional[int]:
  """The newest version if it is this very SavedModel (same TF fingerprint), else None."""
  existing = versions(model_base)
  if not existing:
    return None
  candidate = _fingerprint(saved_model_dir)
  newest = existing[-1]
  if candidate and candidate == _fingerprint(os.path.join(model_base, str(newest))):
    return newest
  return None


def _is_local(path: str) -> bool:
  return '://' not in path


def publish(saved_model_dir: str, model_base: str, version: Optional[int] = None) -> str:
  """Copies `saved_model_dir` to `model_base/<version>/` atomically; returns that path.

  `version` defaults to one more than the highest published version (1 for the first).
  """
  if not tf.io.gfile.exists(os.path.join(saved_model_dir, 'saved_model.pb')):
    raise FileNotFoundError(f'{saved_model_dir} holds no saved_model.pb; nothing to publish')
  tf.io.gfile.makedirs(model_base)
  remove_stale_incoming(model_base)
  existing = versions(model_base)
  if version is None:
    version = (existing[-1] + 1) if existing else 1
  elif version in existing:
    raise FileExistsError(f'version {version} already exists under {model_base}')
  final = os.path.join(model_base, str(version))
  if _is_local(model_base):
    staging = os.path.join(model_base, f'{INCOMING_PREFIX}{version}-{os.getpid()}')
    try:
      shutil.copytree(saved_model_dir, staging)
      os.rename(staging, final)  # atomic on one file system
    except (OSError, shutil.Error) as e:
      shutil.rmtree(staging, ignore_errors=True)  # never left to fill the volume
      raise PublishError(f'could not publish version {version} to {model_base}: {_why(e)}; '
                         'the partial copy was removed, nothing was pushed') from e
  else:
    # Object stores have no atomic directory rename: copy saved_model.pb last, as TF
    # Serving only loads a version once that file exists.
    for dirpath, _, filenames in tf.io.gfile.walk(saved_model_dir):
      rel = os.path.relpath(dirpath, saved_model_dir)
      target_dir = final if rel == '.' else os.path.join(final, rel)
      tf.io.gfile.makedirs(target_dir)
      for name in filenames:
        if rel == '.' and name == 'saved_model.pb':
          continue
        tf.io.gfile.copy(os.path.join(dirpath, name), os.path.join(target_dir, name), True)
    tf.io.gfile.copy(os.path.join(saved_model_dir, 'saved_model.pb'),
                     os.path.join(final, 'saved_model.pb'), True)
  return final
