"""The one error type of `ctpipe inspect` / `report`: a problem the user can fix, in one line."""


class InspectError(Exception):
  """A problem the user can fix, said in one line."""
