"""Error taxonomy shared by every component (after dolma's ``core/errors.py``).

- ``UsageError``: the user asked for something impossible (missing input, bad flag). The CLI prints it and
  exits with status 2.
- ``ConfigError``: a config file or value is invalid; also exit 2. Subclass of ``ValueError``.
- ``ShardError``: one input file or shard is damaged; that unit fails, is counted, and the job goes on.
- ``FatalError``: abort the whole job.
"""


class UsageError(Exception):
    """Bad command-line usage or missing input; the CLI exits with status 2."""


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field and the value."""


class ShardError(Exception):
    """One input unit is damaged: fail that unit, count it, continue."""


class FatalError(Exception):
    """Abort the entire job."""
