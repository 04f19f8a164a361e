"""Benchmarks of rediscluster against redis-py's cluster client and valkey-glide.

Run ``python -m benchmarks.run`` (or ``make bench``) for the full suite, which
rewrites ``docs/benchmarks.rst``, or ``python -m benchmarks.run --quick`` for a
short check that every scenario works.
"""
