"""The test bench's real parts: the Asterisk 22 chroot, sipp phones, redis-server processes.

The tests, the demo and the bench all drive the same real processes, so the helpers that start
them live here rather than under ``tests/`` (product tools never import the tests).  Not part of
the installed distribution: setup.cfg packages only ``premium_hotline``.
"""
