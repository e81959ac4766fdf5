#!/usr/bin/env bash
# The DenseNet-169 baseline's GPU check: one script, at most ~5 minutes, no network.
#
#   benchmarks/gpu_check.sh [OUT_DIR]        (default: $OUT when set, else ./gpu-check)
#
# Runs in an environment that already has torch (and the core's libraries). Stages, each under its
# own time cap and the whole under TOTAL_S seconds; OUT_DIR/gpu_check.json is rewritten after every
# stage (status ok | failed | not finished | skipped, seconds, cap, figures), so a run cut short
# still reports what it finished; OUT_DIR/gpu_check.log holds every stage's output.
#
#   install       pip install --no-index --no-deps --no-build-isolation -e . -e baselines
#   data          synthetic radiographs (30 studies at 512 px; 200 at 128 px for the training run),
#                 each set with its 224-px cache
#   eager         train_throughput.py, batch 256, eager step, fused Adam, plus the runner phase
#   graphs        train_throughput.py, batch 8 (the paper's), --cuda-graphs
#   train         train() as `mura-baseline train --cuda-graphs` runs it: batch 8, cached 224 px, bf16,
#                 channels_last, 4 short epochs (the first includes the capture, logged as
#                 setup_seconds apart from images/s)
#   equivalence   pytest: 20 captured vs 20 eager steps (needs pytest in the environment)
#   compile       train_throughput.py, batch 256, --compile (capped at 2 minutes: "not finished" past it)
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT_DIR="${1:-${OUT:-$ROOT/gpu-check}}"
TOTAL_S="${TOTAL_S:-290}"     # the whole run; STUDIES and TRAIN_STUDIES size the synthetic data
PY="${PYTHON:-python}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
JSON="$OUT_DIR/gpu_check.json"
LOG="$OUT_DIR/gpu_check.log"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mura-gpu-check.XXXXXX")"
STAGES="$WORK/stages.jsonl"
: >"$STAGES"
: >"$LOG"
START=$(date +%s)
# found even if the install stage fails; no network for anything
export PYTHONPATH="$ROOT:$ROOT/baselines${PYTHONPATH:+:$PYTHONPATH}"
export PIP_NO_INDEX=1 HF_HUB_OFFLINE=1 TORCH_HOME="$WORK/torch-home"

remaining() { echo $((TOTAL_S - ($(date +%s) - START))); }

# write_json: the header (card, torch, date) and every stage so far, atomically
write_json() {
  "$PY" - "$STAGES" "$JSON" "$TOTAL_S" <<'EOF'
import datetime, json, os, platform, sys
stages_file, out, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
header = {"script": "benchmarks/gpu_check.sh", "total_cap_s": total, "python": platform.python_version(),
          "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
try:
    import torch
    header["torch"] = torch.__version__
    header["cuda"] = torch.version.cuda
    header["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
except Exception as exc:  # noqa: BLE001 - reported, not raised
    header["torch"] = f"not importable: {exc}"
stages = [json.loads(line) for line in open(stages_file) if line.strip()]
tmp = out + ".tmp"
with open(tmp, "w") as handle:
    json.dump({**header, "stages": stages}, handle, indent=2)
    handle.write("\n")
os.replace(tmp, out)
EOF
}

# record NAME STATUS SECONDS CAP [FIGURES_JSON_FILE]
record() {
  "$PY" - "$@" >>"$STAGES" <<'EOF'
import json, sys
name, status, seconds, cap = sys.argv[1:5]
figures = None
if len(sys.argv) > 5:
    try:
        text = open(sys.argv[5]).read()
        try:
            figures = json.loads(text)
        except ValueError:  # JSON lines (metrics.jsonl): one object per epoch
            figures = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (OSError, ValueError):
        figures = None
print(json.dumps({"stage": name, "status": status, "seconds": int(seconds), "cap_s": int(cap), "figures": figures}))
EOF
  write_json
  echo "== $1: $2 (${3}s of ${4}s)" | tee -a "$LOG"
}

# stage NAME CAP FIGURES_FILE -- command...: run under min(CAP, time left), then record it
stage() {
  local name="$1" cap="$2" figures="$3"
  shift 4
  local left
  left=$(remaining)
  if [ "$left" -lt 10 ]; then
    record "$name" "skipped (no time left)" 0 0
    return 1
  fi
  [ "$cap" -gt "$left" ] && cap="$left"
  echo "== $name (cap ${cap}s): $*" >>"$LOG"
  local t0 rc status
  t0=$(date +%s)
  timeout --signal=TERM --kill-after=5 "$cap" "$@" >>"$LOG" 2>&1
  rc=$?
  case $rc in
    0) status="ok" ;;
    124 | 137) status="not finished (cap ${cap}s)" ;;
    *) status="failed (exit $rc)" ;;
  esac
  record "$name" "$status" $(($(date +%s) - t0)) "$cap" ${figures:+"$figures"}
  return $rc
}

cd "$ROOT" || exit 2
write_json
stage install 60 "" -- "$PY" -m pip install --no-index --no-deps --no-build-isolation -q -e . -e baselines

# 512-px sources for the benchmark (its loader cycles them) and the runner phase; many small
# sources for the training run, so that its epochs last more than a few steps (generating
# synthetic radiographs costs CPU time in proportion to their pixels)
DATA="$WORK/data"
CACHE="$WORK/cache"
TRAIN_DATA="$WORK/train-data"
TRAIN_CACHE="$WORK/train-cache"
stage data 60 "" -- "$PY" -c "
import sys
from mura_bench.synth import generate
from mura_bench.data.layout import load_split
from mura_baseline.data import build_cache, items_of_split
for root, cache, studies, size in ((sys.argv[1], sys.argv[2], int(sys.argv[5]), 512),
                                   (sys.argv[3], sys.argv[4], int(sys.argv[6]), 128)):
    generate(root, studies=1, train_studies=studies, image_size=size, seed=0)
    for split in ('train', 'valid'):
        items = items_of_split(load_split(root, split))
        build_cache(items, cache, split, 224, workers=8)
        print(root, split, len(items), 'images at', size, 'px')
" "$DATA" "$CACHE" "$TRAIN_DATA" "$TRAIN_CACHE" "${STUDIES:-30}" "${TRAIN_STUDIES:-200}"

BENCH=("$PY" benchmarks/train_throughput.py --data "$DATA" --cache "$CACHE" --workers 12)
stage eager 50 "$WORK/eager.json" -- "${BENCH[@]}" --batch-size 256 --steps 20 --warmup 3 --runner \
  --json "$WORK/eager.json"
stage graphs 40 "$WORK/graphs.json" -- "${BENCH[@]}" --batch-size 8 --steps 300 --warmup 3 --cuda-graphs \
  --no-inference --json "$WORK/graphs.json"

RUN="$WORK/run"
# the library entry point of `mura-baseline train` (the CLI needs click, which a bare torch env may lack)
stage train 50 "$RUN/metrics.jsonl" -- "$PY" -c "
import sys
from mura_baseline.config import TrainConfig
from mura_baseline.train import train
train(TrainConfig(data_dir=sys.argv[1], out_dir=sys.argv[2], cache_dir=sys.argv[3], weights='none', batch_size=8,
                  epochs=4, cuda_graphs=True, amp=True, channels_last=True, workers=8, progress=False))
" "$TRAIN_DATA" "$RUN" "$TRAIN_CACHE"

if "$PY" -c "import pytest" 2>/dev/null; then
  stage equivalence 45 "" -- "$PY" -m pytest -q -p no:cacheprovider -k twenty baselines/tests/test_baseline_steps.py
else
  record equivalence "skipped (pytest not installed)" 0 0
fi

stage compile 120 "$WORK/compile.json" -- "${BENCH[@]}" --batch-size 256 --steps 20 --warmup 2 --compile \
  --compile-cache "$WORK/compile-cache" --json "$WORK/compile.json"

echo "figures: $JSON" | tee -a "$LOG"
rm -rf "$WORK"
exit 0
