"""The one exception type for mistakes a user can fix (bad config, bad files, bad profile).

The CLI prints such errors as one line without a traceback; anything else is a bug and keeps
its traceback.
"""


class MdflowError(Exception):
    """A user-facing error whose message names the file/key/value and what is expected."""
