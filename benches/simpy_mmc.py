#!/usr/bin/env python3
"""M/M/c in SimPy: the same model as the Rust baseline in benches/engine.rs.

c = 10 servers, mean service 10 ms, arrival rate 700/s (rho = 0.7). Simulates N customers
(argv[1], default 10^5) to completion and prints one JSON line:
    {"messages": N, "seconds": T, "cpu_seconds": C, "mean_wait_ms": W}
T is the wall time and C the process CPU time of env.run() only (start-up is excluded).
The expected mean wait (Erlang C) is 0.739 ms.
"""

import json
import random
import sys
import time

import simpy

SERVERS = 10
MEAN_SERVICE_S = 0.010
RATE_PER_S = 700.0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    random.seed(1)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=SERVERS)
    stats = {"wait": 0.0, "served": 0}

    def customer(env):
        arrived = env.now
        with servers.request() as req:
            yield req
            stats["wait"] += env.now - arrived
            stats["served"] += 1
            yield env.timeout(random.expovariate(1.0 / MEAN_SERVICE_S))

    def source(env):
        for _ in range(n):
            env.process(customer(env))
            yield env.timeout(random.expovariate(RATE_PER_S))

    env.process(source(env))
    started, cpu_started = time.perf_counter(), time.process_time()
    env.run()
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    served = max(stats["served"], 1)
    print(
        json.dumps(
            {
                "messages": n,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "mean_wait_ms": stats["wait"] / served * 1e3,
            }
        )
    )


if __name__ == "__main__":
    main()
