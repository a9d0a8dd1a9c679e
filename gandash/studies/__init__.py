"""Studies: sets of runs compared at one budget, their leaderboard, and the offline report."""
