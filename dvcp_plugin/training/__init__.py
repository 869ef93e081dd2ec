"""Training the learned stages: configuration, data, the four phases, the trainer and its checkpoints."""
