"""The options object: every option declared once, and each interface made from the declaration."""

from __future__ import annotations

import inspect
from dataclasses import fields
from pathlib import Path

import pytest

import dvcp_plugin
from dvcp_plugin.batch.jobs import OPTIONS as JOBS_KEYS
from dvcp_plugin.cli import build_parser
from dvcp_plugin.errors import DvcpError, OptionError
from dvcp_plugin.options import EngineOptions, Options, OutputOptions, StageOptions, option_infos
from dvcp_plugin.vsapi import REFINE_OPTIONS

NAMES = [info.name for info in option_infos(Options)]


def _flags(command: str) -> set[str]:
    parser = build_parser()
    sub = next(action for action in parser._actions if action.dest == "command")
    return {flag for action in sub.choices[command]._actions for flag in action.option_strings}


def test_every_option_is_a_keyword_of_the_functions_a_flag_and_a_jobs_key():
    for function in (dvcp_plugin.colorize, dvcp_plugin.local_propagate, dvcp_plugin.global_match):
        params = inspect.signature(function).parameters
        assert [name for name in params if name in NAMES] == NAMES
        assert all(params[info.name].default == info.default for info in option_infos(Options))
    refine = inspect.signature(dvcp_plugin.refine).parameters
    assert {name for name in refine if name in NAMES} == set(REFINE_OPTIONS)
    assert all(refine[name].default is None for name in REFINE_OPTIONS)  # None: the pipeline's, else colorize's
    flags = _flags("colorize")
    for info in (*option_infos(Options), *option_infos(OutputOptions)):
        assert "--" + info.name.replace("_", "-") in flags
        assert info.name in JOBS_KEYS


def test_the_options_that_decide_pixels_are_what_a_frame_folder_records(weights):
    record = Options(weights=weights, chroma_scale=0.5, matrix="709").record()
    pixels = {info.name for info in option_infos(Options) if info.spec.pixels}
    # the three stage names are kept together as "stages", as records have always kept them
    assert set(record) == pixels - {"local_stage", "global_stage", "refine_stage"} | {"stages"}
    assert (record["chroma_scale"], record["matrix"], record["stage_options"], record["stages"]) == (
        0.5, "709", {}, [None, None, None]
    )
    assert len(record["weights"]) == 64  # by content


def test_options_not_given_take_their_defaults_in_one_place():
    assert Options.of({}) == Options() == Options.of({name: None for name in NAMES})
    assert Options.of({"device": None}).device == "cpu"  # None: not given
    with pytest.raises(DvcpError, match="unknown option 'colour'; the options are preset, weights, device"):
        Options.of({"colour": "red"})
    assert Options(weights="w.pt", stage_options={"local": {"p": Path("/x")}}).engine() == EngineOptions(
        weights=Path("w.pt"), stage_options={"local": {"p": "/x"}}
    )
    assert {f.name for f in fields(EngineOptions)} < set(NAMES)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"chroma_scale": 1.5}, "chroma_scale=1.5 must be in (0, 1]"),
        ({"chroma_scale": "abc"}, "chroma_scale='abc' must be a positive finite number"),
        ({"cache_mb": float("inf")}, "cache_mb=inf must be a positive finite number"),
        ({"threads": 0}, "threads=0 must be a positive integer"),
        ({"checkpoint_interval": True}, "checkpoint_interval=True must be a positive integer"),
        ({"unkeyed_cuts": "skip"}, "unkeyed_cuts='skip' must be 'error' or 'continue'"),
        ({"matrix": "2020"}, "matrix='2020' is not supported; use '601' or '709'"),
        ({"stage_options": {"colour": {}}}, "stage_options has unknown stage kind(s) colour; kinds: local, global"),
        ({"stage_options": {"local": 3}}, "stage_options={'local': 3} must be a mapping {kind: {option: value}}"),
        ({"stage_options": {"local": {"a": object()}}}, "stage_options holds a value that is not a number"),
        ({"local_stage": ""}, "local_stage='' must be a non-empty string"),
    ],
)
def test_a_value_an_option_cannot_take_is_an_option_error(given, message):
    with pytest.raises(OptionError) as info:
        Options.of(given)
    assert message in str(info.value)
    assert info.value.name == next(iter(given))


def test_values_are_normalised():
    options = Options(matrix=1, weights="w.pt", half=1, chroma_scale=1, stage_options={})
    assert (options.matrix, options.weights, options.half, options.chroma_scale) == ("709", Path("w.pt"), True, 1.0)
    assert options.stage_options is None  # no stage options at all
    assert Options(matrix=5).matrix == Options(matrix=6).matrix == "601"
    assert OutputOptions.of({"fps": "24000/1001"}).fps.denominator == 1001


def test_stage_options_are_frozen_and_hashable_and_read_back_plain():
    given = {"local": {"widths": [8, 16], "path": Path("/a"), "table": {"b": [1, {"c": 2}]}}}
    options = StageOptions(given)
    assert hash(options) == hash(StageOptions(dict(given)))
    assert options["local"] == {"widths": [8, 16], "path": "/a", "table": {"b": [1, {"c": 2}]}}
    assert type(options["local"]["widths"]) is list  # as a stage's factory takes it
    options["local"]["widths"].append(32)  # a copy: the options stay as they were
    assert options == given | {"local": {**given["local"], "path": "/a"}}
    assert Options(stage_options=given) == Options(stage_options=StageOptions(given))
