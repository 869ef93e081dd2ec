"""The jobs file of ``dvcp batch``: TOML with one ``[[shot]]`` table per shot.

Each shot names an ``input`` (a frame folder, a video or a ``.vpy`` script), an ``output`` (a frame
folder or a video file) and its ``keyframes`` (``{ 0 = "key.png", 120 = "key120.png" }``, frames
counted from 0 in the input). Optional: ``name``, ``frames = [first, last]`` (a range of the input), ``cuts = [...]``
(the frames where new shots begin: the range is split there, the parts coloured in parallel and
reassembled into the one output) and any option of ``dvcp colorize``. A ``[defaults]`` table gives
options to every shot that does not set them. Relative paths are relative to the jobs file.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DvcpError, OptionError
from ..media.outputs import check_output, is_video
from ..options import OptionInfo, Options, OutputOptions, StageOptions, option_infos, reword_options
from ..runtime.devices import resolve_device
from .reels import staging


class JobsError(DvcpError):
    """A jobs file that cannot be run as written; the message names the file, the shot and the problem."""


@dataclass(frozen=True)
class ShotJob:
    """One ``[[shot]]`` of a jobs file: paths absolute, options checked."""

    name: str
    label: str  # where the shot is, for messages: "JOBS.toml: shot 3 (reel4)"
    input: Path
    output: Path
    keyframes: dict[int, Path]  # frame of the input -> keyframe image
    options: Options = field(default_factory=Options)
    frames: tuple[int, int] | None = None  # first and last frame of the input to colour
    cuts: tuple[int, ...] = ()  # frames of the input where a new shot begins
    output_options: OutputOptions = field(default_factory=OutputOptions)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value


def _path(value: Any, base: Path) -> Path:
    return base / _text(value)


def _device(value: Any) -> str:
    if value not in ("cpu", "cuda"):
        raise ValueError(f"must be 'cpu' or 'cuda', not {value!r} (each Ray worker has its own GPU, seen as 'cuda')")
    return str(value)


# the options of `dvcp colorize` a shot (or [defaults]) may set: the colouring options and how the output is written
OPTIONS: dict[str, OptionInfo] = {info.name: info for info in (*option_infos(Options), *option_infos(OutputOptions))}
SHOT_KEYS = ("name", "input", "output", "keyframes", "frames", "cuts")


def in_jobs_words(text: str) -> str:
    """A message in a jobs file's words: its advice ``half=False`` is ``half = false``,
    ``unkeyed_cuts='continue'`` is ``unkeyed_cuts = "continue"`` (see
    :func:`~dvcp_plugin.options.reword_options`)."""

    def word(info: OptionInfo, value: Any) -> str:
        if isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, int | float):
            shown = str(value)
        else:
            shown = json.dumps(str(value))
        return f"{info.name} = {shown}"

    return reword_options(text, word)


def _option(info: OptionInfo, value: Any, base: Path) -> Any:
    """A jobs file's value of an option, checked as the option checks it; TOML's types where they differ
    from Python's (true or false, tables), paths relative to the jobs file, and a device a Ray worker has."""
    if info.kind is bool and not isinstance(value, bool):
        raise ValueError("must be true or false")
    if info.kind is StageOptions and not isinstance(value, dict):
        raise ValueError('must be a table of options per stage kind, e.g. { global = { imagenet_weights = "r.pth" } }')
    if info.kind in (str, Path):
        value = _path(value, base) if info.kind is Path else _text(value)
    if info.name == "device":
        value = _device(value)
    try:
        return info.spec.check(info.name, value)
    except OptionError as exc:
        raise ValueError(exc.problem) from None


def read_jobs(path: Path, device: str | None = None) -> list[ShotJob]:
    """The shots of the jobs file at ``path``; ``device`` replaces ``[defaults]``'s device.

    Anything that keeps the file from being run as written is a :class:`JobsError`.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobsError(f"the jobs file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JobsError(f"cannot read the jobs file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise JobsError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"shot", "defaults"})
    if unknown:
        raise JobsError(
            f"{path}: unknown table or key {unknown[0]!r} (a jobs file holds [defaults] and [[shot]] tables)"
        )
    shots = data.get("shot")
    if not isinstance(shots, list) or not shots or not all(isinstance(s, dict) for s in shots):
        raise JobsError(f"{path}: no [[shot]] tables; each shot is a [[shot]] table with input, output and keyframes")
    base = path.parent.absolute()
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise JobsError(f"{path}: defaults must be a table of options ([defaults])")
    defaults = _options(defaults, base, lambda problem: JobsError(f"{path}: [defaults]: {problem}"), ())
    if device is not None:
        defaults["device"] = _device(device)
    jobs = [_shot(shot, k, base, defaults, path) for k, shot in enumerate(shots, 1)]
    _check_unique(jobs, path)
    return jobs


def check_devices(jobs: list[ShotJob], local: bool) -> None:
    """Refuse, before Ray starts, a shot whose device or half precision cannot run: half precision off
    CUDA anywhere, and on a run on this machine (``local``) a CUDA device this machine does not have.

    On a cluster, the workers' GPUs are not this machine's to check.
    """
    for job in jobs:
        device = job.options.device
        if not local and device.startswith("cuda"):
            continue  # the cluster's workers have the GPUs, and half precision runs there
        try:
            resolve_device(device, job.options.half)
        except DvcpError as exc:
            hint = "; to use a cluster's GPUs, give --address" if local and device.startswith("cuda") else ""
            raise JobsError(f"{job.label}: {exc}{hint}") from None


def _options(
    table: Mapping[str, Any], base: Path, error: Callable[[str], JobsError], allowed: tuple[str, ...]
) -> dict[str, Any]:
    """The checked options of ``table``, whose other keys must be in ``allowed``."""
    options = {}
    for key, value in table.items():
        if key in allowed:
            continue
        if key not in OPTIONS:
            raise error(f"unknown key {key!r} (known: {', '.join((*allowed, *OPTIONS))})")
        try:
            options[key] = _option(OPTIONS[key], value, base)
        except ValueError as exc:
            raise error(f"{key} {exc}") from None
    return options


def _shot(table: dict[str, Any], number: int, base: Path, defaults: Mapping[str, Any], path: Path) -> ShotJob:
    label = f"{path}: shot {number}" + (f" ({table['name']})" if isinstance(table.get("name"), str) else "")

    def error(problem: str) -> JobsError:
        return JobsError(f"{label}: {problem}")

    options = {**defaults, **_options(table, base, error, SHOT_KEYS)}
    missing = [key for key in ("input", "output", "keyframes") if key not in table]
    if missing:
        raise error(f"missing {' and '.join(missing)} (every shot needs input, output and keyframes)")

    def value(key: str, check: Callable[[Any], Any]) -> Any:
        try:
            return check(table[key])
        except ValueError as exc:
            raise error(f"{key} {exc}") from None

    def relative(value: Any) -> Path:
        return _path(value, base)

    input_path, output = value("input", relative), value("output", relative)
    name = value("name", _text) if "name" in table else str(table["output"])
    keyframes = _keyframes(table["keyframes"], base, error)
    frames = _frames(table["frames"], error) if "frames" in table else None
    cuts = _cuts(table["cuts"], frames, error) if "cuts" in table else ()
    if frames is not None:
        outside = [n for n in keyframes if not frames[0] <= n <= frames[1]]
        if outside:
            raise error(f"keyframe {outside[0]} is outside frames [{frames[0]}, {frames[1]}]")
    try:
        check_output(input_path, output)
    except DvcpError as exc:
        raise error(str(exc)) from None
    return ShotJob(
        name=name, label=label, input=input_path, output=output, keyframes=keyframes, frames=frames, cuts=cuts,
        options=Options.of(_of(Options, options)), output_options=OutputOptions.of(_of(OutputOptions, options)),
    )


def _of(cls: type, options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``options`` that are options of ``cls``."""
    return {info.name: options[info.name] for info in option_infos(cls) if info.name in options}


def _keyframes(value: Any, base: Path, error: Callable[[str], JobsError]) -> dict[int, Path]:
    if not isinstance(value, dict) or not value:
        raise error('keyframes must be a table of frame = "image", e.g. keyframes = { 0 = "key.png" }')
    keyframes = {}
    for frame, image in value.items():
        if not frame.isdigit():
            raise error(f"keyframe {frame!r} is not a frame number")
        if not isinstance(image, str) or not image:
            raise error(f"keyframe {frame} must be an image path, not {image!r}")
        keyframes[int(frame)] = base / image
    return dict(sorted(keyframes.items()))


def _frame_numbers(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)


def _frames(value: Any, error: Callable[[str], JobsError]) -> tuple[int, int]:
    if not _frame_numbers(value) or len(value) != 2 or value[0] > value[1]:
        raise error(f"frames must be [first, last], two frame numbers with first <= last, not {value!r}")
    return value[0], value[1]


def _cuts(value: Any, frames: tuple[int, int] | None, error: Callable[[str], JobsError]) -> tuple[int, ...]:
    if not _frame_numbers(value) or not value:
        raise error(f"cuts must be a list of frame numbers where new shots begin, not {value!r}")
    for before, after in itertools.pairwise(value):
        if after <= before:
            raise error(f"cuts must increase: {after} comes after {before}")
    first, last = frames if frames is not None else (0, None)
    if value[0] <= first:
        raise error(f"cut {value[0]} is not after the first frame ({first}); cuts are where new shots begin")
    if last is not None and value[-1] > last:
        raise error(f"cut {value[-1]} is past the last frame ({last})")
    return tuple(value)


def _check_unique(jobs: list[ShotJob], path: Path) -> None:
    names: dict[str, ShotJob] = {}
    outputs: dict[Path, ShotJob] = {}
    for job in jobs:
        output = job.output.resolve()
        if output in outputs:
            raise JobsError(f"{path}: shots {outputs[output].name!r} and {job.name!r} both write {job.output}")
        if job.name in names:
            raise JobsError(f"{path}: two shots are named {job.name!r}; give each a distinct name")
        names[job.name], outputs[output] = job, job
    _check_nesting(jobs, path)


def _check_nesting(jobs: list[ShotJob], path: Path) -> None:
    """Refuse a shot whose output lies inside another shot's output folder or reel staging area.

    Such a shot would be taken for frames of the other (or its frames removed with the staging
    area once the reel is reassembled), and flip between failed and done from one run to the next.
    """
    places: list[tuple[Path, str, ShotJob]] = []
    for job in jobs:
        if not is_video(job.output):
            places.append((job.output.resolve(), f"the output folder of shot {job.name!r}", job))
        if job.cuts:
            places.append((staging(job.output).resolve(), f"where shot {job.name!r} stages the parts of its reel", job))
    places.sort(key=lambda entry: -len(entry[0].parts))  # the innermost first: it names the place best
    for job in jobs:
        output = job.output.resolve()
        for place, what, owner in places:
            if owner is not job and output.is_relative_to(place):
                raise JobsError(
                    f"{job.label}: its output {job.output} lies in {place}, {what}; give every shot an output "
                    "of its own, outside the others"
                )
