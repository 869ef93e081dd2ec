"""The error the filter layer raises; the public functions turn it into ``vs.Error``."""


class FilterError(ValueError):
    """Bad input to a filter: a clip, keyframe or option the user can fix; the message says how."""
