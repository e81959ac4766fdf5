"""``mura-bench analyze``: triage, matched operating points, calibration, operating points.

The command takes the inputs and the scoring options of ``mura-bench score`` (the very same click
parameters, so reading, validation and option checks cannot drift apart) plus its own.
"""

from __future__ import annotations

import click

from mura_bench.cli.main import score as score_command
from mura_bench.io.terminal import echo

#: Parameters of ``score`` that ``analyze`` shares, in the order shown by ``--help``.
SHARED_PARAMETERS = (
    "predictions",
    "truth",
    "protocol",
    "resamples",
    "seed",
    "confidence",
    "out",
    "allow_missing",
    "path_col",
    "score_col",
    "tie",
    "gold_readers",
)


def parse_thresholds(_ctx, _param, value: str | None) -> tuple[float, ...]:
    if not value:
        return ()
    out = []
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        try:
            t = float(item)
        except ValueError:
            raise click.BadParameter(f"{item!r} is not a number; give thresholds like 0.1,0.3") from None
        if not 0.0 <= t <= 1.0:
            raise click.BadParameter(f"{item} is outside [0, 1]")
        out.append(t)
    return tuple(out)


@click.command("analyze")
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option(
    "--target-sensitivity",
    type=click.FloatRange(0, 1),
    default=None,
    help="Triage target sensitivity S [default: the radiologists' mean sensitivity per group].",
)
@click.option(
    "--thresholds",
    callback=parse_thresholds,
    default=None,
    help="Operating points to report besides 0.5, e.g. 0.1,0.3.",
)
@click.option(
    "--bins",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Equal-mass (quantile) bins of the ECE and the reliability diagram: at most the number of "
    "studies analysed (or 10).",
)
def analyze_command(
    predictions,
    truth,
    protocol,
    resamples,
    seed,
    confidence,
    out,
    allow_missing,
    path_col,
    score_col,
    tie,
    gold_readers,
    output,
    target_sensitivity,
    thresholds,
    bins,
) -> None:
    """Triage at the readers' sensitivity, matched operating points and calibration, with paired CIs.

    A study is called abnormal at threshold t iff p > t; t* is the largest threshold whose
    sensitivity reaches the target; studies with p <= t* are cleared. Same protocols and bootstrap
    resamples as `score`.
    """
    from mura_bench.console import render
    from mura_bench.analysis.analyze import analyze
    from mura_bench.console.analysis_table import analysis_blocks
    from mura_bench.data.predictions import read_predictions
    from mura_bench.data.truth import read_truth

    inputs = (predictions, truth)
    if out is not None:
        from mura_bench.io.outputs import check_output_file

        check_output_file(out, inputs=inputs)
    preds = read_predictions(predictions, path_col=path_col, score_col=score_col)
    truth_table = read_truth(truth)
    result = analyze(
        preds,
        truth_table,
        protocol=protocol,
        bootstrap=resamples,
        seed=seed,
        confidence=confidence,
        tie=tie,
        gold_readers=gold_readers,
        allow_missing=allow_missing,
        target_sensitivity=target_sensitivity,
        thresholds=thresholds,
        bins=bins,
    )
    if result.missing:
        echo(render.missing_warning(result), err=True)
    if output == "table":
        render.print_blocks(analysis_blocks(result), out, inputs=inputs)
        return
    render.emit(result.to_json() if output == "json" else result.to_csv(), out, inputs=inputs)


def _share_score_parameters(command: click.Command) -> None:
    by_name = {p.name: p for p in score_command.params}
    command.params[:0] = [by_name[name] for name in SHARED_PARAMETERS]


_share_score_parameters(analyze_command)
