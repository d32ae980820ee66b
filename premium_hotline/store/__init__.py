"""Redis: key names, per-route batches, the plain-script RESP client, the spool and its replay."""
