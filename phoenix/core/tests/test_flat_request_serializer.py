"""`FlatRequestSerializer` (phoenix.core.input_policy): per request a shallow copy of each
declared field instead of DRF's rebuild; the same answers as a plain DRF serializer, fields
never shared between two instances, and nested fields refused when the class is declared."""

import threading

import pytest
from rest_framework import serializers

from phoenix.core.input_policy import CodeField, FlatRequestSerializer, StrictIntegerField


class _Fields:
    user_id = serializers.UUIDField(required=False, allow_null=True)
    action = CodeField(max_length=8)
    count = StrictIntegerField(required=False, min_value=1, max_value=5)
    metadata = serializers.JSONField(required=False, default=dict)


class Flat(FlatRequestSerializer):
    user_id, action, count, metadata = _Fields.user_id, _Fields.action, _Fields.count, _Fields.metadata


class Plain(serializers.Serializer):
    user_id, action, count, metadata = _Fields.user_id, _Fields.action, _Fields.count, _Fields.metadata


BODIES = [
    {"action": "ok"},
    {"action": "ok", "count": 3, "metadata": {"a": [1, 2]}, "user_id": "0b4bcb6e-6c0a-4d7c-9a45-6a2f1d3a0a11"},
    {"action": "far-too-long-a-code"},
    {"action": "nul\x00"},
    {"action": " spaced "},
    {"action": 7, "count": "3"},
    {"count": 9, "user_id": "not-a-uuid"},
    {},
]


@pytest.mark.parametrize("body", BODIES)
def test_the_same_answer_as_drf_s_own_serializer(body):
    flat, plain = Flat(data=body), Plain(data=body)
    assert flat.is_valid() == plain.is_valid()
    assert flat.errors == plain.errors
    assert {code for errors in flat.errors.values() for code in (e.code for e in errors)} == \
        {code for errors in plain.errors.values() for code in (e.code for e in errors)}
    if not flat.errors:
        assert flat.validated_data == plain.validated_data


def test_two_instances_never_share_a_field_and_the_declared_ones_stay_unbound():
    first, second = Flat(data={"action": "a"}), Flat(data={"action": "b"})
    assert first.fields["action"] is not second.fields["action"]
    assert first.fields["action"].parent is first and second.fields["action"].parent is second
    assert Flat._declared_fields["action"].field_name is None  # the prototypes are never bound


def test_concurrent_validation_in_threads_keeps_each_request_s_values():
    mismatches = []

    def validate(index: int) -> None:
        for round_index in range(200):
            code = f"c{index}-{round_index % 10}"[:8]
            serializer = Flat(data={"action": code, "count": 1 + index % 5})
            if not serializer.is_valid() or serializer.validated_data["action"] != code:
                mismatches.append((index, round_index, serializer.errors))

    threads = [threading.Thread(target=validate, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []


def test_a_nested_field_is_refused_when_the_class_is_declared():
    with pytest.raises(TypeError, match="plain fields only"):
        type("WithList", (FlatRequestSerializer,), {"codes": serializers.ListField(child=CodeField())})
    with pytest.raises(TypeError, match="plain fields only"):
        type("WithNested", (FlatRequestSerializer,), {"inner": Plain()})
