"""What one request, one connection and one log line may cost: the same bounds on both APIs.

REST checks the body's size before decoding it; gRPC checks each tensor's declared
shape before allocating anything, so a small message cannot ask for a large one.
"""
import dataclasses

# TF Serving's gRPC message limit, kept for both directions.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
  max_body_bytes: int = 4 * 1024 * 1024   # REST, after decompression too
  max_json_depth: int = 32
  max_instances: int = 10_000             # rows (instances, examples, a tensor's first dim)
  # Values in one input tensor: 4 MiB of float32 (a message cannot carry more).
  max_tensor_elements: int = MAX_MESSAGE_BYTES // 4
  max_in_flight: int = 256                # concurrent requests; more are answered 503
  header_seconds: float = 10.0            # a connection's request line and headers
  body_seconds: float = 30.0              # a request's body, once its headers arrived
  keep_alive_seconds: float = 5.0         # an idle connection between requests
  max_log_line_bytes: int = 4 * 1024 * 1024  # one request-log record; larger: summarized
