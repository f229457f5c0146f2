"""What the benchmarks in ``bench/`` share; each script keeps only its phases.

- :mod:`harness.cpu`: where the CPU went (a process, PostgreSQL's backends, the machine)
- :mod:`harness.receiver`: the webhook receiver program and the process that runs it
- :mod:`harness.databases`: fresh SQLite and PostgreSQL databases, removed afterwards
- :mod:`harness.workload`: orders, endpoints and delivered history made through the API's path
- :mod:`harness.publisher`: publishing orders while a worker delivers, inline or in a process
- :mod:`harness.report`: percentiles, figure rows and the final table, the machine's description

The scripts import the submodules they need (the ingest load generator imports no rampwire
module before its clock starts). ``make bench`` runs every ``bench/*.py`` and nothing in here.
"""
