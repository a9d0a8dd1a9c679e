"""How good a run is: the evaluator classifier, its metrics, and the health diagnoses."""
