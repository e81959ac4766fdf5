"""Step engines: the captured step's graph-independent parts on CPU, its CUDA graph where CUDA exists.

On a CPU, :class:`CapturedStep` runs with ``use_graph=False``: static buffers, the dry-run warm-up
and its undoing, the last-batch rule and the tensor lr are all exercised, and the result must equal
plain eager training exactly. The CUDA test compares 20 replayed graph steps with 20 eager ones.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from mura_baseline.config import TrainConfig
from mura_baseline.optim import (
    held_lrs,
    keep_lrs_in,
    load_optimizer_state,
    make_optimizer,
    optimizer_state,
    step_scheduler,
)
from mura_baseline.steps import CapturedStep, CompiledStep, EagerStep, GRAPH_WARMUP_STEPS, make_step

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _tiny_net() -> nn.Module:
    """Conv + BatchNorm (running statistics the dry runs must not leave behind) + linear head."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1)
    )


def _loss(logits, labels, parts):
    weights = torch.tensor([[0.3, 0.7], [0.6, 0.4]], device=logits.device)
    return weights[parts, labels.long()] * nn.functional.binary_cross_entropy_with_logits(
        logits.float(), labels.float(), reduction="none"
    )


def _batches(sizes, device="cpu", side=8):
    gen = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(n, 3, side, side, generator=gen).to(device),
            torch.randint(0, 2, (n,), generator=gen).to(device),
            torch.randint(0, 2, (n,), generator=gen).to(device),
        )
        for n in sizes
    ]


def _captured_config(**changes) -> TrainConfig:
    return TrainConfig(**{"cuda_graphs": True, "lr": 1e-2, **changes})


def _state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_captured_step_equals_eager_training_including_the_partial_last_batch():
    sizes = [6, 6, 6, 4, 6, 6, 3]  # two short batches: the last-batch rule runs them eagerly
    eager_net, captured_net = _tiny_net(), _tiny_net()
    eager_opt, _ = make_optimizer(eager_net, _captured_config())
    captured_opt, _ = make_optimizer(captured_net, _captured_config())
    eager = EagerStep(eager_net, eager_opt, _loss, amp=False, device=torch.device("cpu"))
    captured = CapturedStep(
        captured_net, captured_opt, _loss, amp=False, device=torch.device("cpu"), batch_size=6, use_graph=False
    )
    for x, labels, parts in _batches(sizes):
        a = eager(x, labels, parts)
        b = captured(x, labels, parts)
        assert torch.equal(a, b)
    assert (captured.replayed_steps, captured.eager_steps) == (5, 2)
    a, b = _state(eager_net), _state(captured_net)
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)  # BatchNorm statistics included
    # the dry runs left no trace in the optimiser either: Adam counted the real steps only
    steps = {float(s["step"]) for s in captured_opt.state.values()}
    assert steps == {len(sizes)}
    assert captured.setup_seconds > 0 and eager.setup_seconds == 0


def test_dry_runs_really_ran_and_were_undone(monkeypatch):
    net = _tiny_net()
    optimizer, _ = make_optimizer(net, _captured_config())
    step = CapturedStep(net, optimizer, _loss, amp=False, device=torch.device("cpu"), batch_size=4, use_graph=False)
    calls = []
    original = step._static_step
    monkeypatch.setattr(step, "_static_step", lambda: calls.append(1) or original())
    before = _state(net)
    x, labels, parts = _batches([4])[0]
    step(x, labels, parts)
    assert len(calls) == GRAPH_WARMUP_STEPS + 1  # dry runs, then the real (replayed) step
    after_one = _state(net)
    reference = _tiny_net()
    reference_opt, _ = make_optimizer(reference, _captured_config())
    EagerStep(reference, reference_opt, _loss, amp=False, device=torch.device("cpu"))(x, labels, parts)
    assert all(torch.equal(after_one[k], v) for k, v in _state(reference).items())
    assert not all(torch.equal(after_one[k], before[k]) for k in before)


def test_captured_step_refuses_what_cannot_be_captured():
    net = _tiny_net()
    plain, _ = make_optimizer(net, TrainConfig())
    with pytest.raises(ValueError, match="capturable"):
        CapturedStep(net, plain, _loss, amp=False, device=torch.device("cpu"), batch_size=4, use_graph=False)
    captured, _ = make_optimizer(net, _captured_config())
    with pytest.raises(ValueError, match="CUDA device"):
        CapturedStep(net, captured, _loss, amp=False, device=torch.device("cpu"), batch_size=4)
    with pytest.raises(ValueError, match="exclude"):
        make_step(
            net, captured, _loss, amp=False, device=torch.device("cpu"), batch_size=4, cuda_graphs=True, compile=True
        )


def test_captured_optimiser_is_fused_capturable_adam_with_a_tensor_lr():
    optimizer, _ = make_optimizer(_tiny_net(), _captured_config())
    group = optimizer.param_groups[0]
    assert group["fused"] and group["capturable"] and torch.is_tensor(group["lr"])
    plain, _ = make_optimizer(_tiny_net(), TrainConfig(fused_adam=True))
    assert plain.param_groups[0]["fused"] and not plain.param_groups[0]["capturable"]
    assert not torch.is_tensor(plain.param_groups[0]["lr"])


def test_plateau_lr_reaches_the_captured_optimiser_through_its_tensor():
    net = _tiny_net()
    optimizer, scheduler = make_optimizer(net, _captured_config(lr=1e-3))
    held = held_lrs(optimizer)[0]
    step = CapturedStep(net, optimizer, _loss, amp=False, device=torch.device("cpu"), batch_size=4, use_graph=False)
    batches = _batches([4, 4])
    step(*batches[0])  # captured at lr 1e-3
    step_scheduler(scheduler, optimizer, 1.0)
    step_scheduler(scheduler, optimizer, 2.0)  # no improvement: lr ÷ 10
    assert optimizer.param_groups[0]["lr"] is held and held.item() == pytest.approx(1e-4)
    weight = net[5].weight.detach().clone()
    step(*batches[1])
    change = (net[5].weight.detach() - weight).abs()
    assert 0 < change.max().item() < 2.5e-4  # an Adam step moves a weight by about lr (1e-4), not 1e-3


def test_a_scheduler_that_assigns_floats_still_reaches_the_held_tensor():
    optimizer, _ = make_optimizer(_tiny_net(), _captured_config(lr=1e-3))
    held = held_lrs(optimizer)
    optimizer.param_groups[0]["lr"] = 5e-5  # what older torch's ReduceLROnPlateau does
    keep_lrs_in(optimizer, held)
    assert optimizer.param_groups[0]["lr"] is held[0] and held[0].item() == pytest.approx(5e-5)


def test_checkpoint_state_moves_between_captured_and_plain_optimisers():
    x, labels, parts = _batches([4])[0]
    captured_net = _tiny_net()
    captured_opt, scheduler = make_optimizer(captured_net, _captured_config())
    EagerStep(captured_net, captured_opt, _loss, amp=False, device=torch.device("cpu"))(x, labels, parts)
    step_scheduler(scheduler, captured_opt, 1.0)
    state = optimizer_state(captured_opt)
    assert isinstance(state["param_groups"][0]["lr"], float)
    # into a plain Adam (a run resumed with --no-cuda-graphs) ...
    plain_net = copy.deepcopy(captured_net)
    plain_opt, _ = make_optimizer(plain_net, TrainConfig(lr=1e-2))
    load_optimizer_state(plain_opt, copy.deepcopy(state))  # as if read from a file: no shared tensors
    assert not plain_opt.param_groups[0]["capturable"] and not plain_opt.param_groups[0]["fused"]
    # ... and back into a captured one, whose lr tensor stays the one a graph would read
    again_net = copy.deepcopy(captured_net)
    again_opt, _ = make_optimizer(again_net, _captured_config(lr=0.5))
    held = held_lrs(again_opt)[0]
    load_optimizer_state(again_opt, copy.deepcopy(state))
    assert again_opt.param_groups[0]["lr"] is held and held.item() == pytest.approx(1e-2)
    assert again_opt.param_groups[0]["capturable"]
    batch = _batches([4, 4])[1]
    EagerStep(plain_net, plain_opt, _loss, amp=False, device=torch.device("cpu"))(*batch)
    EagerStep(again_net, again_opt, _loss, amp=False, device=torch.device("cpu"))(*batch)
    for a, b in zip(plain_net.parameters(), again_net.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_compiled_step_sends_only_full_batches_through_the_compiled_model():
    net = _tiny_net()
    optimizer, _ = make_optimizer(net, TrainConfig())
    seen = []

    class Recorder(nn.Module):  # stands in for torch.compile's wrapper: same parameters
        def forward(self, x):
            seen.append(x.shape[0])
            return net(x)

    step = CompiledStep(net, Recorder(), optimizer, _loss, amp=False, device=torch.device("cpu"), batch_size=6)
    for batch in _batches([6, 6, 3]):
        step(*batch)
    assert seen == [6, 6] and step.compiled_steps == 2 and step.setup_seconds > 0


@needs_cuda
def test_twenty_captured_steps_give_the_weights_of_twenty_eager_steps():
    """DenseNet-169, bf16 autocast, channels_last, fused capturable Adam; an lr drop after step 10 and
    a partial last batch; weights compared to bf16 tolerance."""
    from mura_baseline.model import densenet169

    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.manual_seed(0)
    start = densenet169().to(device).to(memory_format=torch.channels_last)
    batches = [
        (x.contiguous(memory_format=torch.channels_last), y, p)
        for x, y, p in _batches([8] * 20 + [5], device=device, side=64)
    ]
    runs = {}
    for name in ("eager", "captured"):
        net = copy.deepcopy(start)
        optimizer, scheduler = make_optimizer(net, TrainConfig(cuda_graphs=True, lr=1e-4), device)
        loss_fn = lambda logits, labels, parts: _loss(logits, labels, parts % 2)  # noqa: E731
        step = (
            EagerStep(net, optimizer, loss_fn, amp=True, device=device)
            if name == "eager"
            else CapturedStep(net, optimizer, loss_fn, amp=True, device=device, batch_size=8)
        )
        losses = []
        for i, batch in enumerate(batches):
            if i == 10:
                step_scheduler(scheduler, optimizer, 1.0)
                step_scheduler(scheduler, optimizer, 2.0)  # lr 1e-4 → 1e-5 through the held tensor
            losses.append(step(*batch).item())
        if name == "captured":
            assert (step.replayed_steps, step.eager_steps) == (20, 1)
        runs[name] = (net, losses)
    (eager, eager_losses), (captured, captured_losses) = runs["eager"], runs["captured"]
    assert captured_losses == pytest.approx(eager_losses, rel=2e-2, abs=2e-3)
    moved = torch.cat([(e - s).flatten() for e, s in zip(eager.parameters(), start.parameters())])
    apart = torch.cat([(c - e).flatten() for c, e in zip(captured.parameters(), eager.parameters())])
    assert moved.norm() > 0
    assert apart.norm() <= 0.05 * moved.norm()  # a lost lr drop or a missed step would be far beyond this
    for a, b in zip(eager.buffers(), captured.buffers()):
        assert torch.allclose(a.float(), b.float(), rtol=2e-2, atol=2e-3)


@pytest.mark.slow
def test_training_loop_with_the_captured_engine_matches_eager_training(synth_root, tmp_path, monkeypatch):
    """train() end to end with the captured engine run graph-free on a CPU (everything but the graph:
    dry runs undone, tensor lr through the schedule, partial last batches, checkpoints, resume),
    against train() stepping the same optimiser eagerly."""
    from mura_baseline import train as train_module
    from mura_baseline.runtime import load_checkpoint

    engine = {"captured": True}

    def make_step(model, optimizer, loss_fn, *, cuda_graphs=False, **kwargs):
        assert cuda_graphs
        if not engine["captured"]:  # the same optimiser (fused, capturable, tensor lr), stepped eagerly
            return EagerStep(model, optimizer, loss_fn, amp=kwargs["amp"], device=kwargs["device"])
        return CapturedStep(
            model,
            optimizer,
            loss_fn,
            amp=kwargs["amp"],
            device=kwargs["device"],
            batch_size=kwargs["batch_size"],
            use_graph=False,
        )

    monkeypatch.setattr(train_module, "make_step", make_step)
    monkeypatch.setattr(train_module, "check_speed_options", lambda config, ctx=None: None)
    from mura_bench.data.layout import load_split

    from mura_baseline.data import items_of_split

    parts = ("wrist", "shoulder", "elbow", "hand", "finger")
    images = len(items_of_split(load_split(synth_root, "train"), parts))
    batch = next(b for b in range(4, 9) if images % b)  # so that every epoch ends on a partial batch
    base = dict(
        data_dir=str(synth_root),
        weights="none",
        image_size=32,
        batch_size=batch,
        epochs=2,
        progress=False,
        threads=1,
        lr=1e-3,
        parts=parts,
    )
    engine["captured"] = False
    eager = train_module.train(TrainConfig(out_dir=str(tmp_path / "eager"), cuda_graphs=True, **base))
    engine["captured"] = True
    graphed = train_module.train(TrainConfig(out_dir=str(tmp_path / "graphed"), cuda_graphs=True, **base))
    assert graphed.history[0]["train_images"] == images
    assert graphed.history[0]["setup_seconds"] > 0 and graphed.history[1]["setup_seconds"] == 0
    a, b = load_checkpoint(eager.last_path), load_checkpoint(graphed.last_path)
    assert b["config"]["cuda_graphs"] and isinstance(b["optimizer"]["param_groups"][0]["lr"], float)
    for key, value in a["model"].items():  # Adam amplifies rounding: the very same steps or nothing
        assert torch.equal(value, b["model"][key]), key
    assert [h["val_loss"] for h in graphed.history] == [h["val_loss"] for h in eager.history]
    # a captured run resumes into a captured run
    resumed = train_module.train(
        TrainConfig(out_dir=str(tmp_path / "graphed"), cuda_graphs=True, **{**base, "epochs": 3}),
        resume=graphed.last_path,
    )
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3] and resumed.history[2]["setup_seconds"] > 0
