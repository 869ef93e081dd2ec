"""Pure PyTorch networks, matching, colour conversion and losses. Never imports vapoursynth."""
