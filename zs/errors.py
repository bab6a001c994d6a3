"""Exceptions that the CLI turns into one-line error messages.

Raise these (or a subclass) for bad *input*: a missing file, a wrong field, a
value out of range. The message must name the file/field/value. Anything else
escaping to the CLI is a bug and shows a traceback.
"""


class ZsError(Exception):
    """Bad input or an impossible request; the message is shown to the user as is."""


class StoreError(ZsError):
    """A feature store is missing, corrupt, locked or of an unsupported schema."""


class ProvenanceError(ZsError):
    """Two artifacts that must come from the same source do not (store vs head, ...)."""


class ConfigError(ZsError):
    """A config, spec or option value is invalid."""
