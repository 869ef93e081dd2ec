"""dvcp changes nothing for the rest of the process: weights by content, torch threads, cuDNN, OpenMP waiting."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

import dvcp_plugin
from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime import engine as engine_module
from dvcp_plugin.runtime.sequential import propagate_shot
from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import save_weights


def test_a_weights_file_replaced_on_disk_is_not_served_from_the_old_engine(make_clip, key_image, planes, tmp_path):
    path = save_weights(tmp_path / "w.pt", untrained_weights(seed=1))
    clip, keys = make_clip(length=4), {0: key_image()}
    old = dvcp_plugin.colorize(clip, keys, weights=str(path), threads=1)  # a previewer keeps this node
    old_frame = planes(old.get_frame(3))
    save_weights(path, untrained_weights(seed=2))  # the file is replaced by other weights
    new = dvcp_plugin.colorize(clip, keys, weights=str(path), threads=1)
    copy = shutil.copy(path, tmp_path / "copy.pt")
    reference = dvcp_plugin.colorize(clip, keys, weights=str(copy), threads=1)
    new_frame = planes(new.get_frame(3))
    for got, want in zip(new_frame, planes(reference.get_frame(3)), strict=True):
        np.testing.assert_array_equal(got, want)
    assert any(not np.array_equal(a, b) for a, b in zip(new_frame, old_frame, strict=True))
    assert old.get_frame(3) is not None  # the old node still works, with its own weights


def test_nodes_leave_torch_threads_of_the_process_as_they_were(make_clip, key_image, weights, monkeypatch):
    seen = []
    step = engine_module.chain_step

    def counting_step(*args):
        seen.append(torch.get_num_threads())
        return step(*args)

    monkeypatch.setattr(engine_module, "chain_step", counting_step)
    before = torch.get_num_threads()
    asked = before + 1
    try:
        out = dvcp_plugin.colorize(make_clip(length=4), {0: key_image()}, weights=str(weights), threads=asked)
        assert torch.get_num_threads() == before  # creating the node
        for n in range(4):
            out.get_frame(n)
        assert torch.get_num_threads() == before  # rendering (on VapourSynth's threads)
        in_new_thread = []
        worker = threading.Thread(target=lambda: in_new_thread.append(torch.get_num_threads()))
        worker.start()
        worker.join()
        assert in_new_thread == [before]
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {asked}  # the work itself ran with the threads asked for


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_a_cuda_engine_leaves_cudnn_flags_alone(weights):
    flags = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    engine = engine_module.Engine(EngineOptions(weights=weights, device="cuda"))
    list(propagate_shot(engine, [torch.rand(48, 64)] * 3, {0: torch.zeros(2, 48, 64)}))
    assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) == flags


def _after_import(variable: str, given: str | None) -> str:
    """``variable`` as a new process sees it after importing dvcp (and torch), started with it ``given`` or unset."""
    env = {k: v for k, v in os.environ.items() if k != variable}
    if given is not None:
        env[variable] = given
    code = f"import os, dvcp_plugin, torch; print(os.environ[{variable!r}])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_wait_passively_unless_the_user_says_otherwise(given, expected):
    assert _after_import("OMP_WAIT_POLICY", given) == expected


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("0", "0")])
def test_torch_allocates_large_tensors_in_huge_pages_unless_the_user_says_otherwise(given, expected):
    assert _after_import("THP_MEM_ALLOC_ENABLE", given) == expected
