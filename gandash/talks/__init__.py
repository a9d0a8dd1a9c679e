"""Talks: decks of saved dashboard views stepped through on stage, and the demo that queues a talk's runs."""
