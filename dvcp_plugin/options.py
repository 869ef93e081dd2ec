"""The options of colouring: frozen dataclasses, each option declared and checked in one place.

:class:`Options` holds everything ``dvcp_plugin.colorize`` takes besides the clip, its keyframes,
their frames and the output format; its first fields, :class:`EngineOptions`, are those that make
an engine. :class:`OutputOptions` holds how ``dvcp colorize`` and ``dvcp batch`` write their
output. Each field is declared once, with :func:`option`: its default, its check, what it means
(the command line's help) and whether it decides the output's pixels (then a frame folder's record
keeps it). The VapourSynth functions' keywords, ``dvcp colorize``'s flags, a jobs file's keys and
the engine's key are all made from these fields.

Every instance is checked when it is made: a value an option cannot take is an
:class:`~dvcp_plugin.errors.OptionError`, and values are normalised (paths as ``Path``, stage
options frozen, matrices as "601" or "709"). ``None`` always means "not given": the option takes
its default. :meth:`Options.of` makes options from those given by name: every interface goes
through it, so it is the one place where what the user did not give is filled in.

Adding an option: a field here, in the class of its scope, and the code that uses it.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any, Self

from .errors import DvcpError, OptionError
from .filters.files import file_digest
from .hookspecs import STAGE_KINDS
from .models.color import FRAME_MATRICES, MATRIX_NAMES
from .stages.weights import find_weights

UNKEYED_CUTS = ("error", "continue")
OUTPUT_SUFFIXES = (".png", ".tif", ".tiff", ".jpg")

Check = Callable[[str, Any], Any]  # (option name, value given) -> the value normalised; OptionError if bad


@dataclass(frozen=True)
class OptionSpec:
    """What one option is besides its default: its check, its help, and whether it decides pixels."""

    check: Check
    help: str
    pixels: bool = False  # the output's pixels depend on it: a frame folder's record keeps it
    choices: tuple[str, ...] | None = None  # the values the command line offers


def option(
    default: Any, check: Check, help: str, *, pixels: bool = False, choices: tuple[str, ...] | None = None
) -> Any:
    """A dataclass field declaring an option (see the module doc)."""
    return field(default=default, metadata={"option": OptionSpec(check, help, pixels, choices)})


@dataclass(frozen=True)
class OptionInfo:
    """An option as the interfaces see it: name, default, the type of its values and its spec."""

    name: str
    default: Any
    kind: type  # the type of a given value once checked: Path, bool, str, float, int, StageOptions, Fraction
    hint: str  # the field's type as declared
    spec: OptionSpec


def option_infos(cls: type) -> tuple[OptionInfo, ...]:
    """The options of the dataclass ``cls``, in declaration order."""
    infos = _INFOS.get(cls)
    if infos is None:
        hints = typing.get_type_hints(cls)
        infos = _INFOS[cls] = tuple(
            OptionInfo(f.name, f.default, _value_type(hints[f.name]), str(f.type), f.metadata["option"])
            for f in fields(cls)
        )
    return infos


_INFOS: dict[type, tuple[OptionInfo, ...]] = {}


def _value_type(hint: Any) -> type:
    """``X`` of a type hint ``X`` or ``X | None``."""
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return args[0] if args else hint


class CheckedOptions:
    """Checks and normalises every option of a frozen dataclass when an instance is made; an option
    not given (None) takes its default."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None:
                value = f.default
            if value is not None:
                value = f.metadata["option"].check(f.name, value)
            object.__setattr__(self, f.name, value)

    @classmethod
    def of(cls, given: Mapping[str, Any]) -> Self:
        """Options from those ``given`` by name (None: not given); an unknown name is an error.

        Every interface makes its options here, the one place that knows which options the user
        gave: whatever fills in those not given (their defaults now; a named set of options) goes
        here, and leaves the given ones as they are.
        """
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise DvcpError(f"unknown option {unknown[0]!r}; the options are {', '.join(names)}")
        return cls(**{name: value for name, value in given.items() if value is not None})


# a message's advice naming an option and a value, as the VapourSynth functions take it: half=False,
# chroma_scale=0.25, unkeyed_cuts='continue' (a quoted value may hold spaces)
_MENTION = re.compile(r"\b([a-z][a-z_]*)=('[^']*'|\"[^\"]*\"|[^\s;,)]+)")


def reword_options(text: str, word: Callable[[OptionInfo, Any], str]) -> str:
    """``text`` with each mention ``name=value`` of an option in the VapourSynth functions' words (how
    messages below the edges give advice) replaced by ``word(info, value)``: an edge's own words.

    ``value`` is the mention's Python literal read back (True, 0.25, 'continue'), or its text.
    """
    infos = {info.name: info for cls in (Options, OutputOptions) for info in option_infos(cls)}

    def replace(match: re.Match[str]) -> str:
        info = infos.get(match[1])
        if info is None:
            return match[0]
        return word(info, _literal(match[2]))

    return _MENTION.sub(replace, text)


def _literal(text: str) -> Any:
    """A mention's value: quoted text as text, True/False/None, a number, else the text itself."""
    if text[0] in "'\"":
        return text[1:-1]
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# --- checks -----------------------------------------------------------------------------------------


def _positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise OptionError(name, "must be a positive finite number", value)
    return float(value)


def _scale(name: str, value: Any) -> float:
    scale = _positive_number(name, value)
    if scale > 1:
        raise OptionError(name, "must be in (0, 1]", value)
    return scale


def _positive_integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise OptionError(name, "must be a positive integer", value)
    return int(value)


def _flag(name: str, value: Any) -> bool:
    return bool(value)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OptionError(name, "must be a non-empty string", value)
    return value


def _device(name: str, value: Any) -> str:
    return _text(name, str(value))  # a torch.device names itself


def _path(name: str, value: Any) -> Path:
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise OptionError(name, "must be a path", value)
    return Path(value)


def _one_of(choices: tuple[str, ...]) -> Check:
    if len(choices) == 2:
        problem = f"must be {choices[0]!r} or {choices[1]!r}"
    else:
        problem = f"must be one of {', '.join(choices)}"

    def check(name: str, value: Any) -> str:
        if value not in choices or not isinstance(value, str):
            raise OptionError(name, problem, value)
        return value

    return check


def _matrix(name: str, value: Any) -> str:
    """"601" or "709", a resizer's name of either ("170m", "470bg", "709"), or its frame matrix code
    (``vs.MATRIX_*``)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) in FRAME_MATRICES:
        return FRAME_MATRICES[int(value)]
    if isinstance(value, str) and value in MATRIX_NAMES:
        return MATRIX_NAMES[value]
    raise OptionError(
        name, "is not supported; use '601' or '709', a resizer's name ('170m', '470bg', '709') or vs.MATRIX_BT709, "
        "vs.MATRIX_ST170_M, vs.MATRIX_BT470_BG", value
    )


def _frame_rate(name: str, value: Any) -> Fraction:
    """``24``, ``23.976``, ``"24000/1001"`` or a Fraction -> a positive fraction."""
    if isinstance(value, bool) or not isinstance(value, str | numbers.Real):
        raise OptionError(name, "must be a frame rate such as 24 or '24000/1001'", value)
    try:
        rate = Fraction(value if isinstance(value, Fraction) else str(value)).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise OptionError(name, f"{value!r} is not a frame rate (e.g. 24 or 24000/1001)") from None
    if rate <= 0:
        raise OptionError(name, f"must be positive, not {value}")
    return rate


class StageOptions(Mapping[str, Mapping[str, Any]]):
    """Options of the stages by kind, ``{kind: {option: value}}``: checked, frozen and hashable.

    Values are numbers, text, booleans, None, lists and tables of them, or paths (kept as text).
    Reading a kind gives a new plain dict (lists as lists), as a stage's factory takes it.
    """

    def __init__(self, options: Mapping[str, Mapping[str, Any]]) -> None:
        self._frozen = tuple(sorted((kind, _freeze(dict(values))) for kind, values in options.items()))

    def __getitem__(self, kind: str) -> dict[str, Any]:
        for name, values in self._frozen:
            if name == kind:
                return _thaw(values)
        raise KeyError(kind)

    def __iter__(self) -> Iterator[str]:
        return (kind for kind, _ in self._frozen)

    def __len__(self) -> int:
        return len(self._frozen)

    def __hash__(self) -> int:
        return hash(self._frozen)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StageOptions):
            return self._frozen == other._frozen
        return super().__eq__(other)

    def __repr__(self) -> str:
        return repr(self.plain())

    def plain(self) -> dict[str, dict[str, Any]]:
        """The options as plain dicts and lists (as JSON gives them)."""
        return {kind: _thaw(values) for kind, values in self._frozen}


class _Table(tuple[tuple[str, Any], ...]):
    """A frozen table: sorted (key, value) pairs, told apart from a frozen list."""

    __slots__ = ()


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _Table(sorted((str(key), _freeze(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, _Table):
        return {key: _thaw(item) for key, item in value}
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


def _plain_value(value: Any) -> bool:
    """Whether ``value`` is a number, text, boolean, None, path, or a list or table of them."""
    if value is None or isinstance(value, str | bool | numbers.Real | os.PathLike):
        return True
    if isinstance(value, Mapping):
        return all(isinstance(key, str) and _plain_value(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(_plain_value(item) for item in value)
    return False


def _stage_options(name: str, value: Any) -> StageOptions | None:
    if isinstance(value, StageOptions):
        return value or None
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise OptionError(name, "must be a mapping {kind: {option: value}}", value)
    unknown = sorted(str(kind) for kind in value if kind not in STAGE_KINDS)
    if unknown:
        raise OptionError(name, f"has unknown stage kind(s) {', '.join(unknown)}; kinds: {', '.join(STAGE_KINDS)}")
    for values in value.values():
        for key, item in values.items():
            if not isinstance(key, str) or not _plain_value(item):
                raise OptionError(
                    name, f"holds a value that is not a number, text, boolean, list or path: {key!r}: {item!r}"
                )
    return StageOptions(value) or None


# --- presets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A named set of ordinary options: points on the measured speed/quality curve (docs/PERFORMANCE.md).

    ``stage_options`` are for the default stages (:data:`~dvcp_plugin.stages.build.DEFAULT_STAGES`)
    and apply to a kind only when that kind's stage is the default one; ``chroma_scale`` applies when
    none is given. Options given explicitly override the preset's.
    """

    description: str
    stage_options: Mapping[str, Mapping[str, Any]]
    chroma_scale: float | None = None


# DIS's fast preset, computed down to a level of at least 25,000 pixels (finer than the preset's on small frames)
_CHEAP_MOTION = {"preset": "fast", "finest_pixels": 25_000}
# the keyframe's long-range motion and its check: the cheap motion is also the better one there (smoother over
# many frames of change; +0.15 to +0.2 dB on the held-out clips in every preset)
_CHEAP_LONG_RANGE = {"motion_options": _CHEAP_MOTION, "check_options": _CHEAP_MOTION}
# the local stage's frame-to-frame motion: the cheap motion at the working resolution, unchecked
_CHEAP_LOCAL = {"motion_options": _CHEAP_MOTION, "resolution": "work", "consistency": "none", "photometric": True}
PRESETS: dict[str, Preset] = {
    "fast": Preset(
        "cheap motion at the working resolution, no networks, no feature matching",
        {
            "local": {**_CHEAP_LOCAL, "kernels": False},
            "global": {**_CHEAP_LONG_RANGE, "long_range": "auto", "inconsistency_scale": 2.0, "match_below": 0.0,
                       "photometric": True},
            "refine": {"network": False, "reliability_gain": 3.0},
        },
    ),
    "balanced": Preset(
        "one DIS call's worth of motion per frame, matching where the motion fails, no networks",
        {
            "local": {**_CHEAP_LOCAL, "kernels": False},
            "global": {**_CHEAP_LONG_RANGE, "long_range": "auto", "inconsistency_scale": 2.0, "roi_size": 8,
                       "match_below": 0.9, "photometric": True},
            "refine": {"network": False, "reliability_gain": 3.0},
        },
    ),
    "best": Preset(
        "local motion at the input's resolution checked both ways, matching everywhere, the networks",
        {"local": {"photometric": True}, "global": {**_CHEAP_LONG_RANGE, "photometric": True},
         "refine": {"reliability_gain": 3.0}},
    ),
}
DEFAULT_PRESET = "balanced"


# --- the options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineOptions(CheckedOptions):
    """The options that make an engine: equal options (and equal weights) share one."""

    preset: str = option(
        DEFAULT_PRESET, _one_of(tuple(PRESETS)),
        f"speed/quality preset, a named set of the options below that options given override: "
        f"{', '.join(PRESETS)} (default {DEFAULT_PRESET})",
        pixels=True, choices=tuple(PRESETS),
    )
    weights: Path | None = option(
        None, _path, "weights file (default: $DVCP_WEIGHTS, else the shipped weights)", pixels=True
    )
    device: str = option("cpu", _device, "torch device: cpu, cuda, cuda:1 (default: cpu)")
    half: bool = option(False, _flag, "half precision (CUDA devices only)", pixels=True)
    local_stage: str | None = option(
        None, _text, "local stage implementation (see `dvcp plugins`; default: the weights file's)", pixels=True
    )
    global_stage: str | None = option(None, _text, "global stage implementation", pixels=True)
    refine_stage: str | None = option(None, _text, "refine stage implementation", pixels=True)
    chroma_scale: float | None = option(
        None, _scale, "chroma working resolution as a fraction of the input's (default: the weights file's)",
        pixels=True,
    )
    stage_options: StageOptions | None = option(
        None, _stage_options,
        'options of the stages, {kind: {option: value}}, e.g. {"global": {"imagenet_weights": "resnet18.pth"}}',
        pixels=True,
    )
    threads: int | None = option(
        None, _positive_integer, "torch CPU threads of the engine's work (default: VapourSynth's thread count)"
    )

    def stage_name(self, kind: str) -> str | None:
        """The stage name given for ``kind`` ("local", "global" or "refine"), if any."""
        name: str | None = getattr(self, f"{kind}_stage")
        return name


@dataclass(frozen=True)
class Options(EngineOptions):
    """The options of ``dvcp_plugin.colorize`` (and its stage functions): the engine's, then how a clip
    is coloured with it."""

    matrix: str | None = option(
        None, _matrix,
        "colour matrix: 601 (also 170m, 470bg) or 709 (default: the input's _Matrix tag, else 601)", pixels=True,
        choices=tuple(MATRIX_NAMES),
    )
    cache_mb: float = option(1024.0, _positive_number, "state cache memory bound in MiB (default 1024)")
    checkpoint_interval: int = option(
        8, _positive_integer, "a checkpoint every n frames of each chain: a seek recomputes at most n (default 8)"
    )
    unkeyed_cuts: str = option(
        "error", _one_of(UNKEYED_CUTS),
        "a scene change (_SceneChangePrev=1) without a keyframe: stop with an error (default), or continue "
        "the shot across it (for false cuts)",
        pixels=True, choices=UNKEYED_CUTS,
    )

    def engine(self) -> EngineOptions:
        """The options of the engine these options colour with."""
        return EngineOptions(**{f.name: getattr(self, f.name) for f in fields(EngineOptions)})

    def record(self) -> dict[str, Any]:
        """The options that decide the output's pixels, as a frame folder's record keeps them.

        Each under its own name, but the weights (known by their content) and the three stage names
        (together, as "stages"), as records have kept them from the start; stage options as plain dicts.
        """
        pixels = [info for info in option_infos(Options) if info.spec.pixels]
        values = {info.name: _recorded(info, getattr(self, info.name)) for info in pixels}
        values["weights"] = file_digest(find_weights(self.weights))
        values["stages"] = [values.pop(f"{kind}_stage") for kind in STAGE_KINDS]
        return values


def _recorded(info: OptionInfo, value: Any) -> Any:
    """An option's value as JSON keeps it: stage options as plain dicts ({} for none), paths as text."""
    if info.kind is StageOptions:
        return value.plain() if value is not None else {}
    return str(value) if isinstance(value, Path) else value


@dataclass(frozen=True)
class OutputOptions(CheckedOptions):
    """How the coloured frames are written by ``dvcp colorize`` and ``dvcp batch``."""

    suffix: str | None = option(
        None, _one_of(OUTPUT_SUFFIXES),
        "image type of output frames (default: the input's; JPEG input gives PNG, video input PNG)",
        choices=OUTPUT_SUFFIXES,
    )
    fps: Fraction = option(Fraction(24), _frame_rate, "frame rate of a frame folder (default 24)")
    ffmpeg_args: str | None = option(
        None, _text,
        "ffmpeg output options for video output (default: .mkv lossless FFV1; .mp4/.mov H.264 4:2:0 crf 16)",
    )

