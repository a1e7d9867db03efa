"""Finds swap plugins through the `bodyswap.plugins` entry-point group.

A plugin package declares, in its pyproject.toml:

    [project.entry-points."bodyswap.plugins"]
    myplugin = "my_package:MyPlugin"

A name joining two plugins with "+" ("cpu-face+cpu-voice") runs the first for video and the
second for voice (compose.py).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from .plugin import SwapPlugin

ENTRY_POINT_GROUP = "bodyswap.plugins"


class PluginNotFoundError(LookupError):
    pass


def available_plugins() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def plugin_names() -> list[str]:
    """Every name `load_plugin` accepts: each installed plugin, and each pair "video+voice" of an
    installed plugin that swaps video and one that swaps voice."""
    classes = {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}
    video = [name for name, cls in classes.items() if "video" in getattr(cls, "swaps", ())]
    voice = [name for name, cls in classes.items() if "voice" in getattr(cls, "swaps", ())]
    return sorted(classes) + [f"{v}+{a}" for v in sorted(video) for a in sorted(voice)]


def plugin_available(name: str) -> bool:
    return name in plugin_names()


def load_plugin(name: str) -> SwapPlugin:
    """Instantiate the installed plugin called `name` (or the pair "video+voice")."""
    if "+" in name:
        video, _, voice = name.partition("+")
        from .compose import CombinedPlugin

        return CombinedPlugin(load_plugin(video), load_plugin(voice))
    matches = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not matches:
        raise PluginNotFoundError(
            f"no swap plugin named {name!r} is installed; installed: {available_plugins() or 'none'}"
        )
    plugin_class = next(iter(matches)).load()
    if not (isinstance(plugin_class, type) and issubclass(plugin_class, SwapPlugin)):
        raise TypeError(f"entry point {name!r} does not name a SwapPlugin subclass")
    return plugin_class()
