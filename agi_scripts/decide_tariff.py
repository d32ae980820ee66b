#!/usr/bin/env python3
"""AGI route decide_tariff: premium or free at call arrival (see premium_hotline.routes)."""

import sys

from premium_hotline.plain import main

sys.exit(main("decide_tariff"))
