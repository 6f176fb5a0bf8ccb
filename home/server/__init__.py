"""Running the service: the production command (`python -m home.server`), health checks,
Prometheus metrics (`metrics.py`), and the first-run set-up `make run` uses (`bootstrap.py`)."""
