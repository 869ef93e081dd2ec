"""Which chains colour a frame, and which scene changes bound shots: the state cache's routes agree
with the shots that `dvcp shots` lists, in both ``unkeyed_cuts`` modes."""

from __future__ import annotations

import random

import pytest

from dvcp_plugin.runtime.shot_list import Shot, split_shots
from dvcp_plugin.runtime.shot_map import Chain, Route, ShotError, ShotMap


def _known(length: int, keyframes, cuts, mode="error", key_at=None) -> ShotMap:
    shots = ShotMap(length, keyframes, key_at, mode)
    for n in range(length):
        shots.record(n, n in cuts)
    return shots


def test_routes_between_before_and_after_keyframes():
    shots = _known(20, (4, 12), cuts=())
    assert shots.route(4) == Route()  # a keyframe is its own colour
    assert shots.route(2) == Route(None, Chain(4, -1))
    assert shots.route(8) == Route(Chain(4, 1), Chain(12, -1))
    assert shots.route(15) == Route(Chain(12, 1), None)


def test_frames_whose_scene_changes_decide_are_read_first():
    shots = ShotMap(20, (4, 12))
    assert shots.route(8) == range(5, 13)  # the frames between the two keyframes
    for n in range(5, 13):
        shots.record(n, n == 10)
    assert shots.route(8) == Route(Chain(4, 1), None)  # the cut at 10 stops the backward chain
    assert shots.route(11) == Route(None, Chain(12, -1))
    assert ShotMap(20, (4,)).route(9) == range(5, 10)  # after the last keyframe: up to the frame itself


def test_a_shot_without_keyframe_is_an_error_naming_its_first_frame():
    shots = _known(20, (2, 15), cuts={6, 11})
    with pytest.raises(ShotError, match="frame 6 starts a new shot"):
        shots.route(9)
    shots = _known(20, (15,), cuts={6, 11})
    with pytest.raises(ShotError, match="frame 6 starts a new shot"):
        shots.route(9)
    with pytest.raises(ShotError, match="the clip's first shot"):
        shots.route(3)


def test_continue_keeps_only_the_last_cut_between_two_keyframes():
    shots = _known(30, (3, 20), cuts={1, 8, 14, 25}, mode="continue")
    assert shots.route(0) == Route(None, Chain(3, -1))  # before the first keyframe: cut 1 crossed
    assert shots.route(13) == Route(Chain(3, 1), None)  # cut 8 crossed, cut 14 bounds the shot
    assert shots.route(14) == Route(None, Chain(20, -1))
    assert shots.route(29) == Route(Chain(20, 1), None)  # after the last keyframe: cut 25 crossed


def test_a_scene_change_becomes_a_keyframe_where_one_can_be_read():
    shots = _known(20, (0,), cuts={7, 15}, key_at=lambda n: n < 10)
    assert shots.keyframes == [0, 7]
    assert shots.route(9) == Route(Chain(7, 1), None)
    with pytest.raises(ShotError, match="frame 15 starts a new shot"):
        shots.route(16)


@pytest.mark.parametrize("mode", ["error", "continue"])
def test_routes_agree_with_the_listed_shots(mode):
    rng = random.Random(4)
    for _ in range(200):
        length = rng.randint(1, 40)
        keyframes = rng.sample(range(length), rng.randint(1, min(4, length)))
        cuts = set(rng.sample(range(1, length), rng.randint(0, length - 1) // 4)) if length > 1 else set()
        listed = split_shots(length, cuts, keyframes, unkeyed_cuts=mode)
        shots = _known(length, keyframes, cuts, mode)
        for shot in listed:
            for n in range(shot.first, shot.last + 1):
                if not shot.keyed:
                    with pytest.raises(ShotError, match=f"frame {shot.first} starts|the clip's first shot"):
                        shots.route(n)
                    continue
                route = shots.route(n)
                assert isinstance(route, Route)
                before = [k for k in shot.keyframes if k < n]
                after = [k for k in shot.keyframes if k > n]
                if n in shot.keyframes:
                    assert route == Route()
                else:  # the nearest keyframes of its own shot, and only those
                    assert route == Route(
                        Chain(before[-1], 1) if before else None, Chain(after[0], -1) if after else None
                    ), (length, keyframes, cuts, n)


def test_listed_shots():
    assert split_shots(20, [5, 12], [0, 8, 15]) == [Shot(0, 4, (0,)), Shot(5, 11, (8,)), Shot(12, 19, (15,))]
    assert split_shots(20, [5, 12], [8], unkeyed_cuts="continue") == [Shot(0, 19, (8,))]
    assert not split_shots(20, [5, 12], [8])[0].keyed
