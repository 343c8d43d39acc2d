"""Fixtures of the kasmina tests (builders are in :mod:`tests.kasmina.helpers`)."""

from __future__ import annotations

import pytest

from tests.kasmina.helpers import HOST_KINDS


@pytest.fixture(params=HOST_KINDS)
def host_kind(request: pytest.FixtureRequest) -> str:
    """Each kind of host in turn: 1-D CNN, 2-D CNN, transformer."""
    return request.param
