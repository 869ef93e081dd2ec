"""Exceptions raised by dvcp. Filters turn them into ``vs.Error`` with the function's name."""


class DvcpError(Exception):
    """Base class of every error dvcp raises on purpose."""


class UnknownStageError(DvcpError, KeyError):
    """A stage name that no registered plugin provides."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateStageError(DvcpError):
    """Two plugins registered the same stage name for one kind."""


class PluginLoadError(DvcpError):
    """A third-party plugin from the entry-point group could not be loaded."""


class WeightsError(DvcpError):
    """Weights that are missing, unreadable, corrupt or do not fit the network."""


class StageError(DvcpError):
    """A stage that cannot be built: options it does not take, or pretrained weights it cannot find."""
