#!/usr/bin/env python3
"""benchcmd.py — small commands that tests/bench/run runs under sfexec.

    benchcmd.py stamp FIFO   for every line read from FIFO, write one line
                             "LINE MONOTONIC_NS" to stdout, stamped with
                             CLOCK_MONOTONIC just before the write(2)
    benchcmd.py throttle [MS]
                             copy stdin to stdout, sleeping MS (default
                             1) ms before each chunk (one read(2) of up
                             to 64 KiB): the deliberately slowed path
                             that SFEXEC_BENCH_SLOW=1 puts behind sfexec

Standard library only; no buffering between a read and its write.
"""
import os
import sys
import time


def write_all(fd, b):
    while b:
        n = os.write(fd, b)
        b = b[n:]


def stamp(fifo):
    fd = os.open(fifo, os.O_RDONLY)     # blocks until the benchmark opens it
    pending = b""
    while True:
        d = os.read(fd, 4096)
        if not d:
            return 0
        pending += d
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            write_all(1, b"%s %d\n" % (line, time.monotonic_ns()))


def throttle(ms=1.0):
    while True:
        d = os.read(0, 65536)
        if not d:
            return 0
        time.sleep(ms / 1000)
        write_all(1, d)


def main(argv):
    if len(argv) == 3 and argv[1] == "stamp":
        return stamp(argv[2])
    if len(argv) in (2, 3) and argv[1] == "throttle":
        return throttle(*map(float, argv[2:]))
    sys.stderr.write("usage: benchcmd.py stamp FIFO | throttle [MS]\n")
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except BrokenPipeError:
        sys.exit(141)
