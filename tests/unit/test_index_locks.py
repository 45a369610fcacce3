"""The readers-writer lock the index catalogue searches and mutates under."""

from __future__ import annotations

import threading
import time

from facetrail.index.locks import ReadWriteLock


def test_readers_share_and_a_writer_waits_for_them() -> None:
    lock = ReadWriteLock()
    events: list[str] = []
    both_reading = threading.Barrier(2, timeout=5)

    def reader(name: str) -> None:
        with lock.reading():
            events.append(f"{name} in")
            both_reading.wait()  # two readers inside at once, or this times out
            time.sleep(0.05)
            events.append(f"{name} out")

    def writer() -> None:
        time.sleep(0.01)
        with lock.writing():
            events.append("writer in")

    threads = [threading.Thread(target=reader, args=(n,)) for n in ("r1", "r2")]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert events.index("writer in") > max(events.index("r1 out"), events.index("r2 out"))


def test_a_waiting_writer_goes_before_new_readers() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    first_in = threading.Event()

    def long_reader() -> None:
        with lock.reading():
            first_in.set()
            time.sleep(0.1)
        order.append("first reader out")

    def writer() -> None:
        first_in.wait()
        with lock.writing():
            order.append("writer")

    def late_reader() -> None:
        first_in.wait()
        time.sleep(0.03)  # arrives while the writer waits
        with lock.reading():
            order.append("late reader")

    threads = [threading.Thread(target=f) for f in (long_reader, writer, late_reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert order.index("writer") < order.index("late reader")
