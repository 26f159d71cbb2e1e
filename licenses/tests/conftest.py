"""Fixtures shared by the /pro API tests: a pro owner on the license tests' clock and their
token client."""

import pytest

from conftest import token_client_for
from licenses.tests.factories import T0, trial_user


@pytest.fixture
def owner():
    return trial_user(now=T0)


@pytest.fixture
def pro(owner):
    return token_client_for(owner)
