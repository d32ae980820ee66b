"""The domain in Redis: key names, per-route batches, the stores the routes see, the spool and its replay.

How to reach Redis (URLs, clients, errors) is premium_hotline/redis/.
"""
