#!/bin/bash
# SHDIQA smoke evidence: student vs DEIQT and ablations, 3 seeds (docs/reproductions/shdiqa-smoke.md).
set -e
cd "$(dirname "$0")/../.."  # the repository root
PY=${PY:-.venv/bin/python}
OUT=runs/evidence
for seed in 0 1 2; do
  base=$OUT/seed$seed
  $PY -m pyiqa_fast train --config shdiqa_demo --quiet --set train.seed=$seed --set train.out_dir=$base/shdiqa
  for variant in no_ckd no_akd no_baf; do
    mkdir -p $base/$variant && rm -rf $base/$variant/teacher && cp -r $base/shdiqa/teacher $base/$variant/teacher
    case $variant in
      no_ckd) extra="--set recipe_options.alpha=0";;
      no_akd) extra="--set recipe_options.beta=0";;
      no_baf) extra="--set model.kwargs.baf_layers=0";;
    esac
    $PY -m pyiqa_fast train --config shdiqa_demo --quiet --set train.seed=$seed --set train.out_dir=$base/$variant $extra --resume
  done
  $PY -m pyiqa_fast train --config deiqt_demo --quiet --set data.dataset=skimage-synth-blocks --set train.seed=$seed --set train.out_dir=$base/deiqt
done
echo EVIDENCE DONE
