"""The contract between mura-bench and a model plugin.

A plugin registers a *factory* in the entry-point group ``mura_bench.models``::

    [project.entry-points."mura_bench.models"]
    my-model = "my_package.module:make_model"

The factory is called with the ``--option key=value`` pairs of the command line as keyword
arguments (values are strings; the factory converts them) and returns an :class:`ImageModel`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

ENTRY_POINT_GROUP = "mura_bench.models"


@runtime_checkable
class ImageModel(Protocol):
    """Predicts P(abnormal) for radiographs.

    ``predict_images`` receives a batch of images as loaded from disk (``PIL.Image.Image`` in their
    stored mode, usually ``"L"`` for MURA's grayscale PNGs; the model does its own resizing and
    normalisation) and returns one probability in [0, 1] per image, in order, as anything
    ``numpy.asarray`` turns into a float array of shape ``(len(images),)``.

    Optional attributes the runner honours when present:

    - ``batch_size: int`` — the preferred number of images per call (default 16);
    - ``predict_study(images) -> float`` — one probability for all views of a study, used instead
      of averaging per-image probabilities when the model defines it;
    - ``description: str`` — one line shown by ``mura-bench models``.
    """

    def predict_images(self, images: Sequence["Image.Image"]) -> "np.typing.ArrayLike": ...


#: What an entry point resolves to: keyword options (strings) in, a model out.
ModelFactory = Callable[..., ImageModel]

__all__ = ["ENTRY_POINT_GROUP", "ImageModel", "ModelFactory", "Any"]
