"""`dvcp doctor` and `dvcp plugins` report what a user needs to know."""

from __future__ import annotations

from dvcp_plugin.cli import main


def test_plugins_lists_builtin_stages_with_their_plugin(capsys, monkeypatch):
    monkeypatch.setenv("DVCP_PLUGINS", "none")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "local   sepconv    from dvcp-builtin" in out
    assert "global  compact" in out and "refine  fcn" in out


def test_doctor_reports_versions_devices_threads_and_weights(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DVCP_PLUGINS", "none")
    monkeypatch.setenv("DVCP_WEIGHTS", str(tmp_path / "absent.pt"))
    code = main(["doctor"])
    out = capsys.readouterr().out
    for key in ("python", "torch", "torchvision", "kornia", "vapoursynth  core R", "devices", "threads"):
        assert key in out
    assert "stages       local: mcsepconv, sepconv" in out
    presets = [line for line in out.splitlines() if line.startswith("preset ")]
    assert [line.split()[1].rstrip(":") for line in presets] == ["fast", "balanced", "best"]  # one line each
    assert "balanced (default): " in presets[1] and all(len(line.split(": ", 1)[1]) > 20 for line in presets)
    assert "scxvid " in out
    assert f"MISSING: no dvcp weights found at {tmp_path / 'absent.pt'}" in out
    assert code == 1
