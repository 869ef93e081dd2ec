"""Media in and out of the command line: frame folders, videos and scripts as clips, what an output path
means, frame writing and its record, the sample shot."""
