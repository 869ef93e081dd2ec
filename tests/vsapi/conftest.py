"""The fixtures of clips, keyframes and weights (see clip_fixtures.py)."""

from clip_fixtures import *  # noqa: F403
