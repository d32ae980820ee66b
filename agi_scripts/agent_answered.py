#!/usr/bin/env python3
"""AGI route agent_answered: a person answered, from Queue()'s AGI argument (see premium_hotline.routes)."""

import sys

from premium_hotline.plain import main

sys.exit(main("agent_answered"))
