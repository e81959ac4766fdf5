"""``mura-baseline``: train the DenseNet-169 baseline, draw class activation maps, cache images.

Commands only: parse, call the library, print. Bad input (files, options, offline without weights)
is one message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys

import click
from mura_bench.errors import InputError
from mura_bench.io.terminal import echo

from mura_baseline.config import TrainConfig

_DEFAULTS = TrainConfig()


def _console():
    from mura_bench.io.terminal import console

    return console(stderr=True, soft_wrap=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mura-baseline")
def cli() -> None:
    """DenseNet-169 reference baseline for mura-bench (MURA paper §3.1, §5).

    Predict with mura-bench: mura-bench run densenet169 --data DIR --split valid
    --out preds.csv --option checkpoint=RUN/best.pt
    """


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------


def _parts(value: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in value.split(",") if p.strip())


@cli.command()
@click.option(
    "--data", "data_dir", type=click.Path(file_okay=False), help="Folder holding MURA-v1.1/ (required unless --resume)."
)
@click.option(
    "--out", "out_dir", default=_DEFAULTS.out_dir, show_default=True, help="Folder for best.pt, last.pt, metrics.jsonl."
)
@click.option(
    "--weights",
    default=_DEFAULTS.weights,
    show_default=True,
    help="Initial weights: imagenet (torchvision's; cached or downloaded), none, or a local state-dict file.",
)
@click.option("--image-size", type=click.IntRange(32), default=_DEFAULTS.image_size, show_default=True)
@click.option("--parts", default="", help="Comma-separated body parts to train on (default: all seven).")
@click.option("--train-split", default=_DEFAULTS.train_split, show_default=True)
@click.option(
    "--val-split",
    default=_DEFAULTS.val_split,
    show_default=True,
    help="Split whose loss drives the lr schedule and checkpoint choice.",
)
@click.option("--hflip/--no-hflip", default=_DEFAULTS.hflip, show_default=True, help="Random lateral inversion.")
@click.option(
    "--rotation",
    type=click.FloatRange(0, 180),
    default=_DEFAULTS.rotation,
    show_default=True,
    help="Random rotation range, ± degrees.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=_DEFAULTS.batch_size,
    show_default=True,
    help="Images per step per process.",
)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=_DEFAULTS.lr, show_default=True)
@click.option("--beta1", type=click.FloatRange(0, 1, max_open=True), default=_DEFAULTS.beta1, show_default=True)
@click.option("--beta2", type=click.FloatRange(0, 1, max_open=True), default=_DEFAULTS.beta2, show_default=True)
@click.option("--weight-decay", type=click.FloatRange(0), default=_DEFAULTS.weight_decay, show_default=True)
@click.option(
    "--epochs",
    type=click.IntRange(1),
    default=_DEFAULTS.epochs,
    show_default=True,
    help="Total epochs (also when resuming).",
)
@click.option(
    "--max-steps-per-epoch",
    type=click.IntRange(0),
    default=_DEFAULTS.max_steps_per_epoch,
    show_default=True,
    help="Cap on steps per epoch (0: the whole training set).",
)
@click.option(
    "--plateau-factor",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=_DEFAULTS.plateau_factor,
    show_default=True,
    help="lr multiplier when the validation loss plateaus.",
)
@click.option(
    "--plateau-patience",
    type=click.IntRange(0),
    default=_DEFAULTS.plateau_patience,
    show_default=True,
    help="Epochs without improvement tolerated before the lr drops.",
)
@click.option("--min-lr", type=click.FloatRange(0), default=_DEFAULTS.min_lr, show_default=True)
@click.option("--seed", type=int, default=_DEFAULTS.seed, show_default=True)
@click.option("--device", default=_DEFAULTS.device, show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--amp/--no-amp", default=_DEFAULTS.amp, show_default=True, help="bf16 autocast (GPU speed option; works on CPU)."
)
@click.option("--channels-last/--no-channels-last", default=_DEFAULTS.channels_last, show_default=True)
@click.option(
    "--compile/--no-compile",
    "compile",
    default=_DEFAULTS.compile,
    show_default=True,
    help="torch.compile the model (static shapes); compile seconds are reported apart from images/s.",
)
@click.option(
    "--compile-cache",
    default=_DEFAULTS.compile_cache,
    help="Folder of torch.compile's persistent cache (default ~/.cache/mura-baseline/torch-compile).",
)
@click.option(
    "--cuda-graphs/--no-cuda-graphs",
    "cuda_graphs",
    default=_DEFAULTS.cuda_graphs,
    show_default=True,
    help="Capture the whole optimiser step in a CUDA graph and replay it (CUDA, one process; "
    "the epoch's last, smaller batch runs eagerly).",
)
@click.option(
    "--fused-adam/--no-fused-adam",
    "fused_adam",
    default=_DEFAULTS.fused_adam,
    show_default=True,
    help="Adam's fused kernels (always on with --cuda-graphs).",
)
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=_DEFAULTS.workers,
    show_default=True,
    help="DataLoader worker processes.",
)
@click.option(
    "--threads",
    type=click.IntRange(0),
    default=_DEFAULTS.threads,
    show_default=True,
    help="CPU threads for torch (0: torch's default).",
)
@click.option(
    "--cache",
    "cache_dir",
    default=_DEFAULTS.cache_dir,
    help="Folder of pre-resized uint8 images (built there on first use).",
)
@click.option(
    "--eval-batch-size",
    type=click.IntRange(0),
    default=_DEFAULTS.eval_batch_size,
    show_default=True,
    help="0: 4 × --batch-size.",
)
@click.option(
    "--resume",
    type=click.Path(dir_okay=False),
    default=None,
    help="Continue from a checkpoint (last.pt); its settings apply unless given here.",
)
@click.option("--quiet", is_flag=True, help="No progress bar and no per-epoch lines.")
@click.pass_context
def train(ctx: click.Context, resume: str | None, quiet: bool, parts: str, **options) -> None:
    """Train DenseNet-169 per the MURA paper (every default is the paper's).

    Multi-GPU: torchrun --nproc-per-node=8 -m mura_baseline.cli train ...
    """
    from mura_baseline.runtime import load_checkpoint
    from mura_baseline.train import train as run_training

    explicit = {
        name
        for name in list(options) + ["parts"]
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    }
    options["parts"] = _parts(parts)
    if resume:
        config = TrainConfig.from_dict(load_checkpoint(resume)["config"])
        for name in explicit:
            setattr(config, name, options[name])
    else:
        if not options["data_dir"]:
            raise click.UsageError("--data is required (the folder holding MURA-v1.1/)")
        config = TrainConfig(**options)
    config.progress = not quiet
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 reports
    result = run_training(config, resume=resume, console=None if quiet or not main_process else _console())
    if not quiet and main_process and result.best:
        echo(
            f"best epoch {result.best['epoch']}: val loss {result.best['val_loss']:.4f}, "
            f"AUROC {result.best['auroc']:.4f} -> {result.best_path}",
            err=True,
        )


# ---------------------------------------------------------------------------------------------
# cam
# ---------------------------------------------------------------------------------------------


@cli.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False), help="best.pt from mura-baseline train.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the overlay PNGs.")
@click.option("--device", default="auto", show_default=True)
@click.option("--image-size", type=click.IntRange(32), default=None, help="Default: the checkpoint's.")
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1),
    default=0.4,
    show_default=True,
    help="Weight of the heat map in the overlay.",
)
@click.option("--colormap", default="jet", show_default=True, help="A matplotlib colour map.")
def cam(
    targets: tuple[str, ...],
    checkpoint: str,
    out_dir: str,
    device: str,
    image_size: int | None,
    alpha: float,
    colormap: str,
) -> None:
    """Class activation maps (paper §5) for study folders or image files, as overlay PNGs.

    Prints each image's P(abnormal) and the study probability (their mean).
    """
    from matplotlib import colormaps

    from mura_baseline.cam import study_cams
    from mura_baseline.plugin import load_model

    if colormap not in colormaps:
        raise InputError(f"unknown colour map {colormap!r}", source="--colormap")
    model = load_model(checkpoint, device=device, image_size=image_size)
    results = study_cams(model, targets, out_dir, alpha=alpha, colormap=colormap)
    for item in results:
        echo(f"{item.probability:.4f}\t{item.source}\t{item.overlay_path}")
    mean = sum(r.probability for r in results) / len(results)
    echo(f"study probability {mean:.4f} ({'abnormal' if mean > 0.5 else 'normal'}), {len(results)} image(s)")


# ---------------------------------------------------------------------------------------------
# cache, weights
# ---------------------------------------------------------------------------------------------


@cli.command()
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False))
@click.option("--out", "cache_dir", required=True, type=click.Path(file_okay=False))
@click.option("--split", "splits", multiple=True, default=("train", "valid"), show_default=True)
@click.option("--size", type=click.IntRange(32), default=224, show_default=True)
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True, help="Decoding processes.")
def cache(data_dir: str, cache_dir: str, splits: tuple[str, ...], size: int, workers: int) -> None:
    """Pre-resize every image of the splits into uint8 arrays (train with --cache the same folder)."""
    from mura_bench.data.layout import load_split
    from rich.progress import Progress

    from mura_baseline.data import build_cache, items_of_split

    with Progress(console=_console(), transient=True) as bar:
        for split in splits:
            items = items_of_split(load_split(data_dir, split))
            task = bar.add_task(f"{split} {size}px", total=len(items))
            path = build_cache(
                items,
                cache_dir,
                split,
                size,
                workers=workers,
                progress=lambda done, task=task: bar.update(task, completed=done),
            )
            echo(f"{path}: {len(items)} images")


@cli.command()
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False))
@click.option("--split", default="train", show_default=True)
def weights(data_dir: str, split: str) -> None:
    """Training-image counts and loss weights per body part (w_T,0 for normal, w_T,1 for abnormal)."""
    from mura_bench.data.layout import load_split

    from mura_baseline.weights import class_weights, image_counts_of_split

    counts = image_counts_of_split(load_split(data_dir, split))
    table = class_weights(counts)
    echo("part,normal_images,abnormal_images,w0,w1")
    for part, (normal, abnormal) in counts.items():
        w0, w1 = table[part]
        echo(f"{part},{normal},{abnormal},{w0:.6f},{w1:.6f}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: exit 2 with one message for bad input or usage, 1 for bugs."""
    try:
        cli.main(args=argv, prog_name="mura-baseline", standalone_mode=False)
    except InputError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(0)


if __name__ == "__main__":  # python -m mura_baseline.cli (torchrun -m mura_baseline.cli train ...)
    main()
