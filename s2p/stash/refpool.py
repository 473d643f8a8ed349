"""One shared object per distinct performer, studio, tag and group.

The scenes s2p keeps name the same few hundred performers, studios and tags
thousands of times; parsed one scene at a time, each scene would carry its
own copies of them (about 40% of a cached scene's memory).  Pydantic keeps
a model instance it is given for a model-typed field, so handing it the
pooled instance in the raw data is enough to share it.  The pool holds its
objects weakly: a performer no cached scene names any more is dropped.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from pydantic import BaseModel, ValidationError

from s2p.stash.models import GroupRef, PerformerRef, StudioRef, TagRef


class RefPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: weakref.WeakValueDictionary[tuple, BaseModel] = weakref.WeakValueDictionary()

    def __len__(self) -> int:
        return len(self._pool)

    def scene(self, raw: Any) -> Any:
        """A scene's raw data with its references replaced by shared
        objects; anything unexpected is left as it is, for the scene's own
        validation to judge."""
        if not isinstance(raw, dict):
            return raw
        shared = dict(raw)
        studio = raw.get("studio")
        if isinstance(studio, dict):
            shared["studio"] = self._shared(StudioRef, studio)
        for field, model in (("performers", PerformerRef), ("tags", TagRef)):
            items = raw.get(field)
            if isinstance(items, list):
                shared[field] = [self._shared(model, item) for item in items]
        groups = raw.get("groups")
        if isinstance(groups, list):
            shared["groups"] = [
                {**entry, "group": self._shared(GroupRef, entry["group"])}
                if isinstance(entry, dict) and isinstance(entry.get("group"), dict) else entry
                for entry in groups
            ]
        return shared

    def _shared(self, model: type[BaseModel], raw: Any) -> Any:
        key = _key(model, raw)
        if key is None:
            return raw
        found = self._pool.get(key)
        if found is not None:
            return found
        try:
            made = model.model_validate(raw)
        except ValidationError:
            return raw
        with self._lock:
            return self._pool.setdefault(key, made)


def _key(model: type[BaseModel], raw: Any) -> tuple | None:
    """A hashable key made of what the model keeps of the raw data (fields
    it does not declare are ignored, as the model ignores them), or None
    when a field holds something a reference never does (a list, say)."""
    if not isinstance(raw, dict):
        return None
    parts: list[Any] = [model]
    for name in model.model_fields:
        value = raw.get(name)
        if isinstance(value, dict):
            value = _key(model, value)
            if value is None:
                return None
        elif not (value is None or isinstance(value, (str, int, float, bool))):
            return None
        parts.append(value)
    return tuple(parts)
