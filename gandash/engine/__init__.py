"""Training: datasets, the networks, one keras.Model per algorithm, and the trainer a run's process executes."""
