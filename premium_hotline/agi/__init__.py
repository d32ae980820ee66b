"""The AGI protocol: wire rules (protocol.py), deadline reads (lines.py), sessions over pyst2 (session.py)."""
