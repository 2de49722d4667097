#!/usr/bin/env bash
# Reproduce every weight file shipped in methods/weights/ (CPU budget). Needs the BSD200
# training split under $BENCH_DATA_ROOT/images/BSD200. Each step resumes if interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
W=methods/weights
T=${BENCH_TRAIN_DIR:-runs/train}
C=methods/configs
export_weights() { cp "$T/$1/$1.safetensors" "$T/$1/$1.json" "$W/"; cp "$T/$1/curves.svg" "$W/$1.curves.svg"; cp "$T/$1/curves.csv" "$W/$1.curves.csv"; }
stage() {  # name, init (a stage name, a path or ""), then bench train arguments: one stage of a chain, resumed if interrupted
  local name=$1 init=$2; shift 2
  case $init in "") ;; */*) set -- "$@" --init "$init";; *) set -- "$@" --init "$T/$init/$init.safetensors";; esac
  bench train "$@" --name "$name" --out "$T/$name" $( [ -f "$T/$name/checkpoint.pt" ] && echo --resume ) -q
}
train() {  # name, then bench train arguments
  local name=$1; shift
  if [ ! -f "$W/$name.safetensors" ] || [ "${FORCE:-0}" = 1 ]; then
    stage "$name" "" "$@"
    export_weights "$name"
  fi
}
only=${1:-all}
if [ "$only" = all ] || [ "$only" = galteri ]; then
  if [ ! -f "$W/qf-predictor.safetensors" ] || [ "${FORCE:-0}" = 1 ]; then  # two stages; the first is not shipped
    bench train qf-predictor --dataset bsd200 --config $C/qf-predictor.toml --name qf-predictor-base --out "$T/qf-predictor-base" \
      $( [ -f "$T/qf-predictor-base/checkpoint.pt" ] && echo --resume ) -q
    bench train qf-predictor --dataset bsd200 --config $C/qf-predictor-ft.toml --init "$T/qf-predictor-base/qf-predictor-base.safetensors" \
      --name qf-predictor --out "$T/qf-predictor" $( [ -f "$T/qf-predictor/checkpoint.pt" ] && echo --resume ) -q
    export_weights qf-predictor
  fi
  train ssim-base ssim $(for q in 5 10 20 30 40 60; do echo --dataset bsd200-qf$q; done) --config $C/ssim-base.toml
  for q in 5 20 30 40 60; do  # QF20 gets the long fine-tune (2500 steps), the others 600
    cfg=$C/ssim-qf.toml; case $q in 20) cfg=$C/ssim-qf-long.toml;; esac
    train ssim-qf$q ssim --dataset bsd200-qf$q --config "$cfg" --param qf=$q --init $W/ssim-base.safetensors
  done
  # QF10: the long fine-tune (not shipped), then grown by 4 zero-initialised residual blocks and
  # fine-tuned 3000 more steps (ssim-qf10-grown.toml), 4000 more (-grown2), 6000 more (-grown3) and 6000 more (-grown4): the shipped ssim-qf10
  if [ ! -f "$W/ssim-qf10.safetensors" ] || [ "${FORCE:-0}" = 1 ]; then
    stage ssim-qf10-long $W/ssim-base.safetensors ssim --dataset bsd200-qf10 --config $C/ssim-qf-long.toml --param qf=10
    stage ssim-qf10-grown ssim-qf10-long ssim --dataset bsd200-qf10 --config $C/ssim-qf10-grown.toml --param qf=10
    stage ssim-qf10-grown2 ssim-qf10-grown ssim --dataset bsd200-qf10 --config $C/ssim-qf10-grown2.toml --param qf=10
    stage ssim-qf10-grown3 ssim-qf10-grown2 ssim --dataset bsd200-qf10 --config $C/ssim-qf10-grown3.toml --param qf=10
    stage ssim-qf10 ssim-qf10-grown3 ssim --dataset bsd200-qf10 --config $C/ssim-qf10-grown4.toml --param qf=10
    export_weights ssim-qf10
  fi
  for q in 5 10 20 30 40 60; do train gan-qf$q gan --dataset bsd200-qf$q --config $C/gan-qf.toml --param qf=$q --init $W/ssim-qf$q.safetensors; done
fi
if [ "$only" = all ] || [ "$only" = others ]; then
  # pix2pix: three pixel-loss stages (not shipped): L1 on intra-coded photos, L1 on inter-coded pan
  # clips, L1 + 0.5 (1 - SSIM) on them; then the lambda=100 and lambda=1000 GAN stages from the third
  if [ ! -f "$W/pix2pix-l1000.safetensors" ] || [ ! -f "$W/pix2pix-l100.safetensors" ] || [ "${FORCE:-0}" = 1 ]; then
    stage pix2pix-l1 "" pix2pix --dataset bsd200-qp46 --config $C/pix2pix-l1.toml
    stage pix2pix-pan-l1 pix2pix-l1 pix2pix --dataset bsd200-pan-qp46 --config $C/pix2pix-pan-l1.toml
    stage pix2pix-ssim-l1 pix2pix-pan-l1 pix2pix --dataset bsd200-pan-qp46 --config $C/pix2pix-ssim-l1.toml
  fi
  for lam in 100 1000; do
    train pix2pix-l$lam pix2pix --dataset bsd200-pan-qp46 --config $C/pix2pix-ssim.toml --param lambda=$lam --init "$T/pix2pix-ssim-l1/pix2pix-ssim-l1.safetensors"
  done
  train srresnet srresnet --dataset bsd200-x4 --config $C/srresnet.toml
  train srgan srgan --dataset bsd200-x4 --config $C/srgan.toml --init $W/srresnet.safetensors
  train fast-srgan fast-srgan --dataset bsd200-x2 --config $C/fast-srgan.toml
  # videoboost: five stages, each from the one before (the shipped weights are the fifth)
  if [ ! -f "$W/videoboost.safetensors" ] || [ "${FORCE:-0}" = 1 ]; then
    stage videoboost-s1 "" videoboost --dataset bsd200-x5 --config $C/videoboost.toml
    stage videoboost-s2 videoboost-s1 videoboost --dataset bsd200-x5 --config $C/videoboost-ft.toml
    stage videoboost-s3 videoboost-s2 videoboost --dataset bsd200-x5 --config $C/videoboost-ft2.toml
    stage videoboost-s4 videoboost-s3 videoboost --dataset bsd200-x5 --config $C/videoboost-ft3.toml
    stage videoboost videoboost-s4 videoboost --dataset bsd200-x5 --config $C/videoboost-ft4.toml
    export_weights videoboost
  fi
fi
if [ "$only" = all ] || [ "$only" = h264 ]; then
  # h264: one model for libx264 CRF 25-45 (the CRF an input, hidden from half of the patches), from
  # scratch on inter-coded pan clips at five CRFs; 50k steps (8-14 h on one CPU thread at 0.5-1.0 s a step). The training
  # in progress lives in checkpoints/h264: BENCH_TRAIN_DIR=checkpoints scripts/train_shipped.sh h264
  # resumes it there
  train h264 h264 $(for c in 25 30 35 40 45; do echo --dataset bsd200-pan-crf$c; done) --config $C/h264.toml
fi
