"""Side-by-side benchmarks of trio_sockets and its peers on loopback.

``python -m benchmarks`` (or ``make bench``) runs every workload on every implementation,
repetitions interleaved, each measurement in a fresh process, and writes the results
into the documentation (``docs/performance-results.rst``, ``docs/_static/performance.png``)
and the raw samples into ``benchmarks/results/``. See ``python -m benchmarks --help``.
"""
