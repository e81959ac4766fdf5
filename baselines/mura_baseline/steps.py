"""One optimiser step per batch, three ways: eager, ``torch.compile``d, or captured in a CUDA graph.

Every engine is called with a prepared batch ``(x, labels, parts)`` already on the device and
returns that step's mean loss (a 0-d device tensor, detached); ``setup_seconds`` accumulates the
one-off time spent compiling or capturing, which the training loop reports apart from its
images/s. All three compute the same thing: forward under bf16 autocast when ``amp``, per-image
loss ``loss_fn(logits, labels, parts)`` averaged over the batch, backward, ``optimizer.step()``.

:class:`CapturedStep` (``--cuda-graphs``) records the *whole* step (forward, backward, Adam) once
and replays it, which removes the launch overhead of DenseNet-169's thousands of small kernels at
the paper's batch of 8:

- static buffers hold the batch; each step copies the new batch into them and replays;
- before capture, ``warmup_steps`` steps run on a side stream (cuDNN algorithm choice, lazy
  optimiser state, autograd's accumulators); they are *dry runs*: the parameters, buffers
  (BatchNorm statistics) and optimiser state are restored afterwards, so the captured run trains
  exactly like the eager one from its first batch on;
- autocast runs with ``cache_enabled=False``; the optimiser is Adam with ``fused=True``,
  ``capturable=True`` and a tensor lr (see :mod:`mura_baseline.optim`: the plateau scheduler's new
  lr is written into that tensor, which the replays read);
- **last-batch rule**: a batch of another size than the captured one (the epoch's last, partial
  batch) runs *eagerly* on the same parameters, gradients and optimiser (gradients zeroed in
  place so the graph's gradient buffers stay where the graph wrote them) — the exact eager
  update, no padding, no BatchNorm statistics of padded images.

:class:`CompiledStep` (``--compile``) sends full batches through the compiled model with static
shapes; a smaller batch goes through the plain model, so it never triggers a second compilation.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from mura_baseline.runtime import autocast, synchronize

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

#: Dry-run steps before capture (the CUDA graph documentation's whole-network example uses 3).
GRAPH_WARMUP_STEPS = 3


class EagerStep:
    """The plain step: ``zero_grad``, forward, backward, ``optimizer.step()``."""

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, *, amp: bool, device: torch.device
    ) -> None:
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.amp, self.device = amp, device
        self.setup_seconds = 0.0

    def _loss(
        self,
        model: nn.Module,
        x: torch.Tensor,
        labels: torch.Tensor,
        parts: torch.Tensor,
        *,
        cache_enabled: bool = True,
    ) -> torch.Tensor:
        with autocast(self.device, self.amp, cache_enabled=cache_enabled):
            logits = model(x).squeeze(1)
        return self.loss_fn(logits, labels, parts).mean()

    def _eager(self, model: nn.Module, x, labels, parts, *, set_to_none: bool = True) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=set_to_none)
        loss = self._loss(model, x, labels, parts)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def __call__(self, x: torch.Tensor, labels: torch.Tensor, parts: torch.Tensor) -> torch.Tensor:
        return self._eager(self.model, x, labels, parts)


class CompiledStep(EagerStep):
    """Full batches (``batch_size`` images) through ``compiled``; others through the plain ``model``.
    The first full batch (compilation included) is timed into ``setup_seconds``."""

    def __init__(
        self,
        model: nn.Module,
        compiled: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFn,
        *,
        amp: bool,
        device: torch.device,
        batch_size: int,
    ) -> None:
        super().__init__(model, optimizer, loss_fn, amp=amp, device=device)
        self.compiled, self.batch_size, self.compiled_steps = compiled, batch_size, 0

    def __call__(self, x, labels, parts):
        if x.shape[0] != self.batch_size:
            return self._eager(self.model, x, labels, parts)
        if self.compiled_steps == 0:
            synchronize(self.device)
            started = time.perf_counter()
            loss = self._eager(self.compiled, x, labels, parts)
            synchronize(self.device)
            self.setup_seconds += time.perf_counter() - started
        else:
            loss = self._eager(self.compiled, x, labels, parts)
        self.compiled_steps += 1
        return loss


class CapturedStep(EagerStep):
    """The whole step captured once in a ``torch.cuda.CUDAGraph`` and replayed (see module doc).

    ``use_graph=False`` keeps every other part (static buffers, dry-run warm-up and restore,
    last-batch rule, tensor lr) and "replays" by running the recorded step function again: the
    reference semantics of the graph, runnable on a CPU.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFn,
        *,
        amp: bool,
        device: torch.device,
        batch_size: int,
        warmup_steps: int = GRAPH_WARMUP_STEPS,
        use_graph: bool = True,
    ) -> None:
        super().__init__(model, optimizer, loss_fn, amp=amp, device=device)
        if use_graph and device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, not {device}")
        for group in optimizer.param_groups:
            if not group.get("capturable") or not torch.is_tensor(group["lr"]):
                raise ValueError("a captured step needs Adam(capturable=True) with a tensor lr (make_optimizer)")
        self.batch_size, self.warmup_steps, self.use_graph = batch_size, warmup_steps, use_graph
        self.static: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.static_loss: torch.Tensor | None = None
        self._replay: Callable[[], None] | None = None
        self.replayed_steps = 0
        self.eager_steps = 0

    def _static_step(self) -> torch.Tensor:
        """The recorded step over the static buffers (gradients must be None before it)."""
        loss = self._loss(self.model, *self.static, cache_enabled=False)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def __call__(self, x, labels, parts):
        if x.shape[0] != self.batch_size:  # the last-batch rule
            self.eager_steps += 1
            grads_exist = any(p.grad is not None for g in self.optimizer.param_groups for p in g["params"])
            return self._eager(self.model, x, labels, parts, set_to_none=not grads_exist)
        if self._replay is None:
            self._capture(x, labels, parts)
        for buffer, value in zip(self.static, (x, labels, parts)):
            buffer.copy_(value, non_blocking=True)
        self._replay()
        self.replayed_steps += 1
        return self.static_loss.clone()

    def _capture(self, x, labels, parts) -> None:
        synchronize(self.device)
        started = time.perf_counter()
        self.static = tuple(t.detach().clone() for t in (x, labels, parts))
        saved = _snapshot(self.model, self.optimizer)
        if self.use_graph:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._dry_runs()
            torch.cuda.current_stream(self.device).wait_stream(side)
        else:
            self._dry_runs()
        _restore(self.model, self.optimizer, saved)
        self.optimizer.zero_grad(set_to_none=True)
        if self.use_graph:
            graph = torch.cuda.CUDAGraph()
            # thread_local: the DataLoader's pin-memory thread may call CUDA while we capture
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self.static_loss = self._static_step()
            self._graph = graph
            self._replay = graph.replay
        else:

            def replay() -> None:
                self.optimizer.zero_grad(set_to_none=True)
                self.static_loss = self._static_step()

            self._replay = replay
        synchronize(self.device)
        self.setup_seconds += time.perf_counter() - started

    def _dry_runs(self) -> None:
        for _ in range(self.warmup_steps):
            self.optimizer.zero_grad(set_to_none=True)
            self._static_step()


def _snapshot(model: nn.Module, optimizer: torch.optim.Optimizer):
    """Copies of the parameters, buffers and optimiser state tensors (to undo the dry runs)."""
    tensors = [t.detach().clone() for t in list(model.parameters()) + list(model.buffers())]
    state = {p: {k: v.detach().clone() for k, v in s.items() if torch.is_tensor(v)} for p, s in optimizer.state.items()}
    return tensors, state


def _restore(model: nn.Module, optimizer: torch.optim.Optimizer, saved) -> None:
    """Undo the dry runs in place (the captured graph must see these very tensors): parameters and
    buffers copied back; optimiser state copied back, or zeroed where it was created by the dry runs
    (Adam's initial state is zeros and step 0)."""
    tensors, state = saved
    with torch.no_grad():
        for live, copy in zip(list(model.parameters()) + list(model.buffers()), tensors):
            live.copy_(copy)
        for param, values in optimizer.state.items():
            before = state.get(param, {})
            for key, value in values.items():
                if not torch.is_tensor(value):
                    raise ValueError(f"optimiser state {key!r} is not a tensor: not capturable")
                value.copy_(before[key]) if key in before else value.zero_()


def default_compile_cache() -> Path:
    """``$XDG_CACHE_HOME/mura-baseline/torch-compile`` (``~/.cache/...`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mura-baseline" / "torch-compile"


def enable_compile_cache(directory: str | Path | None = None) -> Path:
    """Keep torch.compile's artefacts across runs: inductor's cache folder (``directory``; else
    ``$TORCHINDUCTOR_CACHE_DIR`` when set, else :func:`default_compile_cache` — not the temporary
    folder torch uses by default) with its FX-graph and AOT-autograd caches switched on, so a second
    run with the same model, shapes and torch loads the compiled kernels instead of compiling.
    Returns the folder."""
    if directory:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(directory).expanduser().resolve())
    else:
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(default_compile_cache()))
    folder = Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for module, flag in (
        ("torch._inductor.config", "fx_graph_cache"),
        ("torch._functorch.config", "enable_autograd_cache"),
    ):
        try:
            config = __import__(module, fromlist=["_"])
        except ImportError:  # pragma: no cover - older torch
            continue
        if hasattr(config, flag):
            setattr(config, flag, True)
    return folder


def compile_model(model: nn.Module, cache_dir: str | Path | None = None) -> nn.Module:
    """``torch.compile(model, dynamic=False)`` with the persistent cache of :func:`enable_compile_cache`."""
    enable_compile_cache(cache_dir)
    return torch.compile(model, dynamic=False)


def make_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    *,
    amp: bool,
    device: torch.device,
    batch_size: int,
    cuda_graphs: bool = False,
    compile: bool = False,
    compile_cache: str | Path | None = None,
) -> EagerStep:
    """The engine the options ask for (``cuda_graphs`` and ``compile`` exclude each other)."""
    if cuda_graphs and compile:
        raise ValueError("cuda_graphs and compile exclude each other")
    if cuda_graphs:
        return CapturedStep(model, optimizer, loss_fn, amp=amp, device=device, batch_size=batch_size)
    if compile:
        return CompiledStep(
            model,
            compile_model(model, compile_cache),
            optimizer,
            loss_fn,
            amp=amp,
            device=device,
            batch_size=batch_size,
        )
    return EagerStep(model, optimizer, loss_fn, amp=amp, device=device)
