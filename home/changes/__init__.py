"""Changes: the change feed, its live stream and the webhooks that push it."""
