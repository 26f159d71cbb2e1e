"""phoenix.core.visibility: the policy registry fails closed and answers with any rule."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from phoenix.core import visibility

pytestmark = pytest.mark.django_db


def new_user():
    """A plain user (core does not import accounts' factories: that would be an import cycle)."""
    return get_user_model().objects.create_user(email=f"v{get_user_model().objects.count()}@example.com",
                                                password="a-long-Password-123")


@pytest.fixture
def no_rules(monkeypatch):
    """An empty registry (the apps' registered rules set aside for this test)."""
    monkeypatch.setattr(visibility, "_policies", [])
    monkeypatch.setattr(visibility, "_readers", [])


def test_with_no_rule_nobody_sees_anybody(no_rules):
    viewer, subject = new_user(), new_user()
    assert visibility.activity_visible(viewer=viewer, subject=subject) is False
    assert visibility.activity_recent(viewer=viewer, subject=subject) is None


def test_a_registered_rule_decides_and_registering_twice_adds_it_once(no_rules):
    viewer, subject, other = new_user(), new_user(), new_user()
    calls = []

    def rule(*, viewer, subject, now):
        calls.append(now)
        return subject.pk == subject_pk

    subject_pk = subject.pk
    visibility.register_activity_visibility(rule)
    visibility.register_activity_visibility(rule)
    assert visibility.activity_visible(viewer=viewer, subject=subject) is True
    assert visibility.activity_visible(viewer=viewer, subject=other) is False
    assert len(calls) == 2  # one rule, asked once per question
    assert visibility.activity_visible(viewer=None, subject=subject) is False
