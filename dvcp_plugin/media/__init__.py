"""Media in and out of the command line: frame folders and videos as clips, frame writing, the sample shot."""
