"""Media in and out of the command line: frame folders and videos as clips, writing and rendering frames, the sample shot."""
