"""The one hook a microreg plugin implements, and the markers to declare it with."""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from .op import Op

PROJECT = "microreg"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def microreg_ops() -> Iterable[Op]:
    """Return the ops this plugin contributes.

    Each becomes a ``Value`` method of the same name and a function ``xp.<name>`` inside other ops.
    The host records which plugin, distribution and version each op came from; a plugin whose hook
    raises, returns something other than ``Op``s, or claims a taken name is reported and skipped whole.
    """
    raise NotImplementedError  # a specification: pluggy calls the plugins' implementations, never this
