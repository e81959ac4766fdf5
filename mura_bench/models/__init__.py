"""Plugin models: the model protocol, the entry-point registry, built-in models and the runner."""

from __future__ import annotations

from mura_bench.models.protocol import ENTRY_POINT_GROUP, ImageModel, ModelFactory

__all__ = ["ENTRY_POINT_GROUP", "ImageModel", "ModelFactory"]
