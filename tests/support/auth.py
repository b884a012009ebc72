"""The API keys every test gateway accepts."""

from __future__ import annotations

TEST_API_KEY = "test-key-0123456789abcdef"
OTHER_API_KEY = "other-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
OTHER_AUTH = {"Authorization": f"Bearer {OTHER_API_KEY}"}
