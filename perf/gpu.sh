#!/usr/bin/env bash
# On a CUDA machine: the decoding and encoding figures of issue 17, one line per figure.
#   bash perf/gpu.sh            (PYTHON=... to use another interpreter; WORK=... for the clips)
# Needs CUDA builds of torch and torchcodec (README, "Extraction at scale") for the NVDEC line.
# The streaming-probe figure is perf/scale.py's (scale-stream); it is run here when present.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORK=${WORK:-$(mktemp -d)}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'perf/gpu.sh needs a CUDA device')"

# Encoder: bf16, fraction of the matmul peak measured before and after the model.
"$PY" perf/encoder.py --device cuda > "$WORK/encoder.txt"
echo "encoder_fraction_of_peak: $(grep '^fraction_of_peak' "$WORK/encoder.txt" | cut -d' ' -f2-)"
echo "encoder_clips_per_s: $(grep '^clips_per_s' "$WORK/encoder.txt" | cut -d' ' -f2)"

# Decoding on NVDEC vs the CPU decoders, end to end with the encoder, 16x288 from 720p GOP-250 clips.
"$PY" perf/extract.py --device cuda --workers 8 --videos 64 --repeats 3 --skip-sampling \
    --decoders decord,torchcodec,torchcodec:cuda --work-dir "$WORK/clips" > "$WORK/extract.txt"
for decoder in decord torchcodec torchcodec:cuda; do
  echo "decode_only_clips_per_s $decoder: $(grep "^$decoder:" "$WORK/extract.txt" | sed 's/.*decode_only \([^ ]*\).*/\1/')"
done
echo "$(tail -1 "$WORK/extract.txt")"

# torchrun, 2 processes: extraction on two ranks (tiny model: no checkpoint needed). One GPU per rank
# with NVDEC decoding where there are two GPUs; on one GPU NCCL cannot pair two ranks, so the ranks
# run on the CPU (gloo) with torchcodec's CPU decoder, and the line says so.
ls "$WORK"/clips/copy_*.mp4 | head -32 > "$WORK/videos.txt"
if [ "$("$PY" -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
  where=(--device auto --decoder torchcodec:cuda); label=gpu
else
  where=(--device cpu --decoder torchcodec); label=cpu
fi
start=$("$PY" -c 'import time; print(time.time())')
"$PY" -m torch.distributed.run --standalone --nproc_per_node 2 -m vpbench extract --list "$WORK/videos.txt" \
    --model tiny "${where[@]}" --cache-dir "$WORK/cache" --out "$WORK/features" --no-progress > /dev/null
echo "torchrun_2_process_extract_s ($label, 32 clips): $("$PY" -c "import time; print(round(time.time() - $start, 2))")"

if [ -f perf/scale.py ]; then "$PY" perf/scale.py | tail -3; fi
