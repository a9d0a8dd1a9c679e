"""The run directory, the contract between trainers and readers: its files, lock, lifecycle and queue."""
