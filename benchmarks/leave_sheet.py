"""A contact sheet of a shot in which coloured content leaves: the fusion's reliability gain off and on.

    .venv/bin/python benchmarks/leave_sheet.py ../shared/data/train/ski-pov docs/model_card/leave-ski-pov.png

Columns: the grey input, the truth, dvcp at the default preset with ``reliability_gain`` 0 (the
local chain trusted wherever its blend says so), the same preset as shipped (gain 3: where the local
estimate's motion failed, the blend leans to the keyframe's estimate), and DIS-flow propagation.
Keyframe 0 in its true colours; rows spread over the first ``--frames`` frames. Prints each
column's chroma PSNR over all those frames and its colour retention over the last ten.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dvcp_plugin.evaluation.methods import BASELINES, dvcp_method, output_rgb
from dvcp_plugin.evaluation.metrics import chroma_psnr, colour_retention
from dvcp_plugin.evaluation.pictures import contact_sheet
from dvcp_plugin.evaluation.protocol import sheet_frames
from dvcp_plugin.filters.images import write_image
from dvcp_plugin.models.color import grey_u8
from dvcp_plugin.options import EngineOptions, StageOptions
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.training.data import find_sequences, frame_planes, load_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sequence", help="a folder of colour frames")
    parser.add_argument("out", help="the contact sheet (PNG)")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--weights", help="weights file (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    sequence = find_sequences([Path(args.sequence)])[0]
    truths = [load_frame(path) for path in sequence.frames[: args.frames]]
    planes = [frame_planes(truth) for truth in truths]
    greys, chromas = [grey for grey, _ in planes], [chroma for _, chroma in planes]
    columns = {}
    for label, gain in (("reliability gain 0", 0.0), ("dvcp (gain 3, as shipped)", None)):
        stage_options = StageOptions({"refine": {"reliability_gain": gain}}) if gain is not None else None
        engine = Engine(EngineOptions(weights=Path(args.weights) if args.weights else None, threads=args.threads,
                                      stage_options=stage_options))
        columns[label] = list(dvcp_method(engine)(greys, {0: chromas[0]}))
    columns["DIS flow propagation"] = list(BASELINES["flow"](greys, {0: chromas[0]}))

    for label, outputs in columns.items():
        strength = [float(o.norm(dim=0).mean()) for o in outputs[1:]]
        truth = [float(c.norm(dim=0).mean()) for c in chromas[1:]]
        scores = [chroma_psnr(o, c) for o, c in zip(outputs[1:], chromas[1:], strict=True)]
        print(f"{label:28s} chroma PSNR {np.mean(scores):.2f} dB, retention over the last 10 frames "
              f"{colour_retention(strength, truth):.2f}")
    rows = [[(f"frame {n}: grey (input)", grey_u8(truths[n])), ("truth", truths[n]),
             *((label, output_rgb(greys[n], outputs[n])) for label, outputs in columns.items())]
            for n in sheet_frames(len(truths))]
    write_image(Path(args.out), contact_sheet(rows, f"{sequence.name}: keyframe 0; colour that leaves the shot",
                                              tile_width=240))


if __name__ == "__main__":
    main()
