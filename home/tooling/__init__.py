"""Tools for developing and measuring the service, not served by it, shared by the tests and
the benchmarks (so neither reaches into the other): the command line as an operator runs it
(`cli.py`), the production command in a subprocess (`servers.py`), and a webhook receiver that
checks signatures (`receiver.py`, also `python -m home.tooling.receiver`)."""
