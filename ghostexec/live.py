"""Live entities: the mutable copies of a scenario's entities that one episode changes.

A scenario's entities are pydantic models (`ghostexec.world`): that is the file format, validated
once when the scenario loads. An episode needs its own copies to change, and a step reads and
writes them many times, so each live copy is a slotted record with exactly the model's fields:

- a reset copies ~60 entities per episode: a record copies its values into slots instead of a
  dict, a fields-set set and a pydantic instance (~1.3 KB each, ~0.2 KB as a record);
- a step reads every contact, email, meeting and task of the world, and a serving process holds
  dozens of worlds at once: a record keeps an entity in two or three cache lines, where a pydantic
  instance spreads it over its object, its dict and its set;
- an assignment is a plain slot store (a pydantic model routes it through `__setattr__`).

A record reads and writes like the model (`email.replied = True`, `meeting.start`); nothing else
in the core needs to know the difference. Where a model is wanted (the state snapshot, one
entity's public view) `record.to_model()` converts, without re-validating: every value came from a
validated model and changed only through `ghostexec.ops`. `live(model)` makes a record of a
scenario's entity; `record.copy()` copies a record (a planner's fork).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter, itemgetter
from typing import Any, ClassVar

from pydantic import BaseModel

from .results import build
from .world import Commitment, Contact, Email, Executive, Meeting, Task


class LiveRecord:
    """Base of the live classes made by `_live_class`: one slot per field of `model`."""

    __slots__ = ()
    model: ClassVar[type[BaseModel]]
    field_names: ClassVar[tuple[str, ...]]
    # Set per class by _live_class: a new record from a model's field dict, and a copy of a record.
    from_values: ClassVar[Callable[[dict[str, Any]], Any]]
    copy: ClassVar[Callable[[Any], Any]]

    def to_model(self) -> Any:
        """The pydantic model with this record's current values (live values nested in a list,
        such as the executive's commitments, are converted too)."""
        values = {}
        for name in self.field_names:
            value = getattr(self, name)
            if isinstance(value, list):
                value = [v.to_model() if isinstance(v, LiveRecord) else v for v in value]
            values[name] = value
        return build(self.model, **values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.field_names)
        return f"{type(self).__name__}({shown})"


def _filler(cls: type, getter: Callable[[Any], tuple]) -> Callable[[Any], Any]:
    """`make(source)`: a new `cls` whose slots take `getter(source)` in field order, all in one
    unpacking assignment (generated, like namedtuple's and dataclasses' methods: a loop of setattr
    calls costs twice as much, and a reset makes ~60 of these)."""
    targets = ", ".join(f"new.{name}" for name in cls.field_names)
    source = f"def make(source):\n    new = _new(_cls)\n    {targets} = _get(source)\n    return new\n"
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_get": getter}
    exec(source, namespace)  # built from the model's field names only
    return namespace["make"]


def _live_class(model: type[BaseModel]) -> type[LiveRecord]:
    names = tuple(model.model_fields)
    cls = type(
        f"Live{model.__name__}",
        (LiveRecord,),
        {
            "__slots__": names,
            "model": model,
            "field_names": names,
            "__module__": __name__,
            "__doc__": f"A live {model.__name__}.",
        },
    )
    cls.from_values = staticmethod(_filler(cls, itemgetter(*names)))
    cls.copy = _filler(cls, attrgetter(*names))
    return cls


LiveContact = _live_class(Contact)
LiveEmail = _live_class(Email)
LiveMeeting = _live_class(Meeting)
LiveCommitment = _live_class(Commitment)
LiveTask = _live_class(Task)
LiveExecutive = _live_class(Executive)

LIVE_CLASS: dict[type[BaseModel], type[LiveRecord]] = {
    cls.model: cls for cls in (LiveContact, LiveEmail, LiveMeeting, LiveCommitment, LiveTask, LiveExecutive)
}
_FROM_MODEL = {model: cls.from_values for model, cls in LIVE_CLASS.items()}


def live(entity: BaseModel) -> Any:
    """A new live record of a scenario entity (a model). Field values are shared, which is safe:
    every collection field of an entity is an immutable tuple, except the executive's commitments,
    which the world re-links to its own copies (as `record.copy()` shares them too)."""
    return _FROM_MODEL[type(entity)](entity.__dict__)
