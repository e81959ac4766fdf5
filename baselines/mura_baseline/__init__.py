"""DenseNet-169 reference baseline for mura-bench (MURA paper §3.1 and §5).

- ``mura-baseline train``: training per the paper (:func:`mura_baseline.train.train`);
- ``mura-bench run densenet169 --option checkpoint=PATH``: prediction through the mura-bench
  plugin protocol (:func:`mura_baseline.plugin.densenet169`);
- ``mura-baseline cam``: class activation maps (:mod:`mura_baseline.cam`).

Importing this package does not import torch; its modules do.
"""
from __future__ import annotations

__version__ = "0.1.0"
