"""Serializers that write their answers with fields built once a class, not once a call."""

import functools

from rest_framework import fields, relations, serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject

# Fields that write a value from the instance alone, reading no context and keeping no state between calls:
# one object of each serves every serializer of its class.
_SHAREABLE = (
    fields.BooleanField,
    fields.CharField,
    fields.ChoiceField,
    fields.DateTimeField,
    fields.IntegerField,
    fields.JSONField,
    fields.ReadOnlyField,
    relations.PrimaryKeyRelatedField,
    relations.SlugRelatedField,
)


class Planned:
    """A serializer (mixin, before DRF's class) whose answer DRF's fields write, built once for the class.

    DRF builds a serializer's fields again for each serializer it makes: a deep copy of the declared ones and,
    for a model serializer, the model's fields mapped to fields once more. For a request that took longer than
    writing the answer itself. Here the fields are built once, as DRF builds them, and every serializer of
    the class writes with them, the way DRF's `to_representation` does. A `SerializerMethodField`'s method is
    called on the serializer at hand, so it sees that serializer's context.

    What may be shared is checked when the fields are built, so that a new kind of field fails at once rather
    than answering with the wrong context: only the field kinds above, and nested serializers that are
    `Planned` too and have no method of their own (a nested one would see the shared fields' empty context).
    The declared fields stay what the schema and the input read (`.fields` is DRF's, untouched).
    """

    def to_representation(self, instance):
        answer = {}
        for name, field, method in _plan(type(self)):
            if method is not None:
                answer[name] = getattr(self, method)(instance)
                continue
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            value = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            answer[name] = None if value is None else field.to_representation(attribute)
        return answer


@functools.cache
def _plan(cls) -> tuple[tuple[str, fields.Field, str | None], ...]:
    """Return, for serializer class `cls`, each readable field's name, its field, and its method's name if any."""
    plan = []
    for field in cls()._readable_fields:
        if isinstance(field, serializers.SerializerMethodField):
            plan.append((field.field_name, field, field.method_name))
            continue
        _check_shareable(cls, field)
        plan.append((field.field_name, field, None))
    return tuple(plan)


def _check_shareable(cls, field) -> None:
    nested = field.child if isinstance(field, serializers.ListSerializer) else field
    if isinstance(nested, serializers.BaseSerializer):
        if not isinstance(nested, Planned):
            raise TypeError(f"{cls.__name__}.{field.field_name}: a nested serializer must be Planned too.")
        if any(method is not None for _, _, method in _plan(type(nested))):
            raise TypeError(f"{cls.__name__}.{field.field_name}: a nested serializer may not have methods.")
        return
    if not isinstance(field, _SHAREABLE):
        raise TypeError(f"{cls.__name__}.{field.field_name}: {type(field).__name__} is not known to be shareable.")
