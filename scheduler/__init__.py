"""scheduler: the leader-elected pod scheduler."""
