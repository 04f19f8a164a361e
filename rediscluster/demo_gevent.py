"""The gevent half of the demo, run as ``python -m rediscluster.demo_gevent``.

It patches the standard library before anything imports rediscluster, as a
gevent application does, then runs the demo workload with threads on and
prints the seconds per pipeline as a JSON list on its last line. Arguments:
``HOST:PORT PIPELINES``.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402

from rediscluster.client import RedisCluster  # noqa: E402
from rediscluster.demo import run_workload  # noqa: E402


def main() -> None:
    """Run the workload on the cluster named on the command line."""
    address, pipelines = sys.argv[1], int(sys.argv[2])
    if address.startswith(("redis://", "rediss://")):
        client = RedisCluster.from_url(address)
    else:
        client = RedisCluster(startup_nodes=[address])
    try:
        timings, _ = run_workload(client, pipelines, use_threads=True)
    finally:
        client.close()
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
