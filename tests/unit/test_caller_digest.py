"""The caller's keyed hash, without hashlib: it must stay the very digest hmac gives."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from premium_hotline.routes.call import hmac_sha256_hex


@given(key=st.binary(min_size=1, max_size=200), data=st.binary(max_size=100))
def test_the_built_in_hmac_is_the_standard_librarys_hmac_sha256(key, data):
    assert hmac_sha256_hex(key, data) == hmac.new(key, data, hashlib.sha256).hexdigest()
