"""The README's commands run as written, in order, in a copy of the repository's root; the examples run from
another folder; every link of the README and docs/ leads somewhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from dvcp_plugin.filters.images import read_image, write_image
from dvcp_plugin.media.demo_shot import make_shot
from dvcp_plugin.models.color import grey_u8

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
CUT = 48  # the film's second shot starts here, as the README's keyframe key48.png says
# what the README runs that the tests do not: setup.sh and test.sh are what CI itself runs (.ci/run)
RUN_BY_CI = ("./setup.sh", "./test.sh")


def blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of ``text`` in ``language``."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def commands(text: str) -> list[str]:
    """The shell commands of ``text``'s sh blocks (a line ending in a backslash goes on), comments dropped."""
    lines = "\n".join(blocks(text, "sh")).replace("\\\n", " ").splitlines()
    return [line.split("  #")[0].strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_readme_reads_in_five_minutes():
    assert len(README.read_bytes()) <= 10 * 1024
    assert "<!-- preset table: filled from docs/PERFORMANCE.md -->" in README.read_text()


def _film(root: Path) -> None:
    """``film.mkv``: two generated shots, grey, the second starting at frame CUT; ``key0.png`` and ``key48.png``."""
    first, second = make_shot(CUT, 96, 128, seed=1), 255 - make_shot(16, 96, 128, seed=2)[:, ::-1]  # a new scene
    grey = np.concatenate([grey_u8(first), grey_u8(second)])
    frames = root / "film-frames"
    frames.mkdir()
    for k, frame in enumerate(grey):
        write_image(frames / f"{k:05d}.png", frame)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-framerate", "24", "-i", str(frames / "%05d.png"),
                    "-c:v", "ffv1", str(root / "film.mkv")], check=True)
    shutil.rmtree(frames)
    write_image(root / "key0.png", first[0])
    write_image(root / "key48.png", np.ascontiguousarray(second[0]))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository root as a user has it after ./setup.sh: .venv, the examples, dvcp-demo/, and their film."""
    if shutil.which("ffmpeg") is None or not hasattr(vs.core, "scxvid") or not hasattr(vs.core, "bs"):
        pytest.skip("the README's commands need ffmpeg, vapoursynth-bestsource and vapoursynth-scxvid (./setup.sh)")
    root = tmp_path_factory.mktemp("checkout")
    (root / ".venv").symlink_to(Path(sys.executable).parents[1])
    shutil.copytree(ROOT / "examples", root / "examples")
    _film(root)
    return root


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PWD": str(cwd)})
    assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
    return done


def test_every_readme_command_runs_as_written_and_none_breaks_a_later_one(root):
    text = README.read_text()
    documented = commands(text)
    assert [c for c in documented if c.startswith(RUN_BY_CI)] == list(RUN_BY_CI)
    _run(".venv/bin/dvcp demo", root)  # the last step of ./setup.sh
    (root / "colour.vpy").write_text(blocks(text, "python")[0])  # the README's script, saved as it says
    for command in [c for c in documented if not c.startswith(RUN_BY_CI)]:
        _run(command, root)
    demo = sorted((root / "out" / "demo").glob("*.png"))
    assert len(demo) == 24 and all(read_image(p).ndim == 3 for p in demo)
    film = sorted((root / "out" / "film").glob("*.png"))
    assert len(film) == CUT + 16
    # the second shot took its colours from key48.png: its first frame is the keyframe on the film's luma
    assert np.abs(read_image(film[CUT]).astype(int) - read_image(root / "key48.png").astype(int)).mean() < 2
    assert (root / "out" / "colour.mkv").stat().st_size > 0

    for command in [c for c in documented if not c.startswith(RUN_BY_CI)]:
        _run(command, root)  # the same commands again: they resume, or replace their own output
    _run(".venv/bin/dvcp batch examples/archive.toml --summary out/batch/summary.json", root)  # as docs/BATCH.md says
    _run(".venv/bin/dvcp demo", root)  # ./setup.sh again: the demo's folder is still its own


def test_the_examples_run_from_another_folder(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    vspipe = root / ".venv" / "bin" / "vspipe"
    scenes = subprocess.run(
        [str(vspipe), "--info", str(root / "examples" / "scenes.vpy"), "-a", "input=../film.mkv"],
        cwd=elsewhere, capture_output=True, text=True, timeout=300,
    )
    assert scenes.returncode == 0 and f"Frames: {CUT + 16}" in scenes.stdout, scenes.stderr
    colorize = subprocess.run(
        [str(vspipe), "-c", "y4m", "-e", "3", str(root / "examples" / "colorize.vpy"), "-",
         "-a", "input=../film.mkv", "-a", f"keyframe={root / 'key0.png'}"],
        cwd=elsewhere, capture_output=True, timeout=300,
    )
    assert colorize.returncode == 0 and colorize.stdout.count(b"FRAME") == 4, colorize.stderr[-2000:]
    shots = subprocess.run(
        [str(root / ".venv" / "bin" / "dvcp"), "shots", str(root / "examples" / "scenes.vpy"),
         "-a", "input=../film.mkv", "-k", f"0={root / 'key0.png'}", "-k", f"{CUT}={root / 'key48.png'}"],
        cwd=elsewhere, capture_output=True, text=True, timeout=300,
    )
    assert shots.returncode == 0, shots.stderr
    assert [line.split()[1:4] for line in shots.stdout.splitlines()[1:]] == [
        ["0", str(CUT - 1), str(CUT)], [str(CUT), str(CUT + 15), "16"],
    ]


def _anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings, as GitHub makes them."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_link_leads_somewhere(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        assert path.exists(), f"{page.name}: {target}"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{page.name}: {target}"
