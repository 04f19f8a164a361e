"""Enable rediscluster's pytest fixtures for this test suite."""

pytest_plugins = ["rediscluster.testing.pytest_plugin"]
