"""Run by test_durability.py as a child process: stores baselines through a BatchWriter from
several threads and prints the number of each baseline whose future resolved, until killed.

Usage: python durable_child.py URL THREADS
"""

from __future__ import annotations

import itertools
import sys
import threading

from lunge.http import Request
from lunge.store import open_store
from lunge.store.models import NewBaseline
from lunge.store.writer import BatchWriter


def main(url: str, threads: int) -> None:
    store = open_store(url)
    record = store.create_record("durability")
    writer = BatchWriter(store)
    out = threading.Lock()
    print(f"record {record.id}", flush=True)
    counter = itertools.count()

    def submit_forever() -> None:
        while True:
            n = next(counter)
            request = Request.from_url(f"http://app.test/durable/{n}")
            writer.submit(NewBaseline(record.id, request, None)).result()
            with out:  # the number goes out only after its commit
                print(n, flush=True)

    workers = [threading.Thread(target=submit_forever, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
