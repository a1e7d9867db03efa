"""Bodyswap's swap plugin API: what a plugin implements and how the worker finds it."""

from .media import AudioBlock, VideoFormat, VideoFrame, i420_size
from .plugin import Enrollment, Modality, Requirements, SwapPlugin, SwapSession
from .registry import ENTRY_POINT_GROUP, PluginNotFoundError, available_plugins, load_plugin, plugin_available, plugin_names

__all__ = [
    "ENTRY_POINT_GROUP",
    "AudioBlock",
    "Enrollment",
    "Modality",
    "PluginNotFoundError",
    "Requirements",
    "SwapPlugin",
    "SwapSession",
    "VideoFormat",
    "VideoFrame",
    "available_plugins",
    "i420_size",
    "load_plugin",
    "plugin_available",
    "plugin_names",
]
