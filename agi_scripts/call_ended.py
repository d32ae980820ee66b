#!/usr/bin/env python3
"""AGI route call_ended: hang-up handler closing the record and the bill (see premium_hotline.routes)."""

import sys

from premium_hotline.plain import main

sys.exit(main("call_ended"))
