"""Reading ExampleValidator's anomalies and saying them in plain words.

Used by the data gate (to decide) and by the CLI (to tell a person what broke,
in which feature and which span).
"""
import dataclasses
import os
from typing import List, Sequence

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2

ANOMALIES_FILE = 'SchemaDiff.pb'


@dataclasses.dataclass(frozen=True)
class Anomaly:
  """One problem found in one split of one span."""
  span: int
  split: str
  feature: str  # '' for a data-set-level anomaly
  short: str
  detail: str

  def sentence(self) -> str:
    where = f'feature {self.feature!r}' if self.feature else 'the data set'
    return f'span {self.span}, split {self.split}: {where}: {self.short} — {self.detail}'


def _describe(info: anomalies_pb2.AnomalyInfo) -> tuple:
  short = info.short_description or (info.reason[0].short_description if info.reason else '')
  details = [r.description for r in info.reason if r.description] or [info.description]
  return short or 'anomaly', ' '.join(d for d in details if d)


def anomalies_from_proto(proto: anomalies_pb2.Anomalies, span: int, split: str) -> List[Anomaly]:
  found = []
  for feature, info in sorted(proto.anomaly_info.items()):
    short, detail = _describe(info)
    found.append(Anomaly(span, split, feature, short, detail))
  if proto.HasField('dataset_anomaly_info'):
    short, detail = _describe(proto.dataset_anomaly_info)
    found.append(Anomaly(span, split, '', short, detail))
  return found


def read_anomalies(anomalies_uri: str, splits: Sequence[str], span: int) -> List[Anomaly]:
  """All anomalies ExampleValidator wrote under `anomalies_uri` for the given splits."""
  found = []
  for split in splits:
    path = os.path.join(anomalies_uri, f'Split-{split}', ANOMALIES_FILE)
    if not tf.io.gfile.exists(path):
      raise FileNotFoundError(f'ExampleValidator wrote no {ANOMALIES_FILE} for split {split} '
                              f'under {anomalies_uri}')
    proto = anomalies_pb2.Anomalies()
    with tf.io.gfile.GFile(path, 'rb') as f:
      proto.ParseFromString(f.read())
    found.extend(anomalies_from_proto(proto, span, split))
  return found
