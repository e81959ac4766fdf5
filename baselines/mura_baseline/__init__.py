"""DenseNet-169 reference baseline for mura-bench (MURA paper §3.1 and §5).

- ``mura-baseline train``: training per the paper (:func:`mura_baseline.train.train`);
- ``mura-bench run densenet169 --option checkpoint=PATH``: prediction through the mura-bench
  plugin protocol (:func:`mura_baseline.plugin.densenet169`);
- ``mura-baseline cam``: class activation maps (:mod:`mura_baseline.cam`).

Modules: ``config`` (settings), ``data`` (images to tensors), ``model`` (the network and its
weights), ``weights`` (loss weights), ``evaluation`` (validation records and metrics, numpy),
``runtime`` (devices, autocast, processes, checkpoints: all that prediction and CAMs share with
training), ``optim`` (Adam and the plateau schedule), ``steps`` (eager, compiled and CUDA-graph
optimiser steps), ``train`` (the training loop). Prediction and CAMs never import the last three.

Importing this package does not import torch; its modules do.
"""

from __future__ import annotations

__version__ = "0.1.0"
