#!/usr/bin/env bash
# Train mmcap on one host with several GPUs.
#
# By default one process drives every visible GPU (JAX shards the batch over
# them); --one_process_per_gpu starts one process per GPU instead, joined by
# mmcap's --coordinator_address/--num_processes/--process_id flags. Every
# step prints its command lines; --dry_run prints them and runs nothing.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"  # configs/ and relative workdirs are relative to the repository root

usage() {
  cat <<'EOF'
Usage: launch/gpu.sh [FLAGS] [--config.FIELD=VALUE ...] [-- MMCAP_ARGS ...]

Trains mmcap on the GPUs of this host: `python -m mmcap.main --config
--workdir` plus the extra arguments, run from the repository root.

Modes:
  (default)              one process over all visible GPUs (or those of
                         --gpus / the first --num_gpus); its output goes to
                         the terminal and its exit status is the script's.
  --one_process_per_gpu  one process per GPU, each seeing only its GPU
                         (CUDA_VISIBLE_DEVICES) and given
                         --coordinator_address=localhost:PORT
                         --num_processes=N --process_id=I; process I logs
                         to LOG_DIR/process_I.log. Waits for all; when one
                         fails, stops the others (SIGTERM) and exits with
                         its status.

Flags (defaults in brackets):
  --config=PATH          config file [configs/demo.py]
  --workdir=DIR          workdir [runs/gpu]
  --gpus=LIST            GPU indices, e.g. 0,1,2,3 [all visible]
  --num_gpus=N           how many GPUs (the first N unless --gpus) [with
                         --one_process_per_gpu: the length of --gpus, else
                         what nvidia-smi -L lists; the dry run shows 2 if
                         nvidia-smi is missing]
  --one_process_per_gpu  the mode above
  --port=PORT            coordinator port on localhost [8476]
  --log_dir=DIR          per-process logs [WORKDIR.logs]
  --python=PATH          Python with mmcap installed [.venv/bin/python if it
                         exists, else python3]
  --dry_run              print the command lines; run nothing
  -h, --help             this help

Extra arguments for mmcap.main: --config.FIELD=VALUE flags as they are, and
everything after `--`.

Examples:
  launch/gpu.sh --dry_run
  launch/gpu.sh --config=configs/lrcn_coco.py --workdir=runs/lrcn_coco --config.dataset.dir=data/coco
  launch/gpu.sh --one_process_per_gpu --num_gpus=4 --dry_run
EOF
}

# shellcheck source=launch/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# A command line: stdout in a dry run, stderr with "+ " in a real one.
show() {
  if $dry_run; then echo "$*"; else echo "+ $*" >&2; fi
}

# --- Flags -----------------------------------------------------------------
config="configs/demo.py"
workdir="runs/gpu"
gpus=""
num_gpus=""
one_per_gpu=false
port="8476"
log_dir=""
python=""
dry_run=false
extra=()

set_value() {
  local flag=$1 value=$2
  [[ -n $value ]] || die "$flag needs a value (see --help)"
  case $flag in
    --config) config=$value ;;
    --workdir) workdir=$value ;;
    --gpus) gpus=$value ;;
    --num_gpus) num_gpus=$value ;;
    --port) port=$value ;;
    --log_dir) log_dir=$value ;;
    --python) python=$value ;;
    *) die "unknown flag $flag (see --help)" ;;
  esac
}
VALUE_FLAGS=" --config --workdir --gpus --num_gpus --port --log_dir --python "
SWITCHES=" --one_process_per_gpu --dry_run "

while (($# > 0)); do
  arg=$1
  shift
  case $arg in
    -h | --help) usage; exit 0 ;;
    --dry_run) dry_run=true ;;
    --one_process_per_gpu) one_per_gpu=true ;;
    --config.*) extra+=("$arg") ;;  # a config override for mmcap.main
    --) extra+=("$@"); break ;;
    --*)
      value_flag "$arg" "$@"
      shift $((consumed - 1))
      ;;
    *) die "unexpected argument $arg (see --help; arguments for mmcap.main go after --)" ;;
  esac
done

# --- Checks, before anything runs ------------------------------------------
[[ -f $config ]] || die "--config=$config: no such file (paths are relative to the repository root)"
[[ -z $gpus || $gpus =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--gpus=$gpus: expected GPU indices such as 0,1,2,3"
[[ -z $num_gpus || $num_gpus =~ ^[1-9][0-9]*$ ]] || die "--num_gpus=$num_gpus: expected a positive number"
if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
  die "--port=$port: expected a port number, 1 to 65535"
fi
log_dir=${log_dir:-$workdir.logs}
if $one_per_gpu && [[ $log_dir == *://* ]]; then
  die "--log_dir=$log_dir: expected a local directory (give --log_dir when --workdir is not local)"
fi
if [[ -z $python ]]; then
  if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi

# The GPUs to use, as a list of indices; empty: all visible (default mode).
gpu_list=()
if [[ -n $gpus ]]; then
  IFS=, read -r -a gpu_list <<<"$gpus"
  if [[ -n $num_gpus ]] && ((num_gpus != ${#gpu_list[@]})); then
    die "--num_gpus=$num_gpus: --gpus=$gpus lists ${#gpu_list[@]} GPUs"
  fi
elif [[ -n $num_gpus ]]; then
  for ((i = 0; i < num_gpus; i++)); do gpu_list+=("$i"); done
elif $one_per_gpu; then
  if command -v nvidia-smi >/dev/null; then
    count=$(nvidia-smi -L | grep -c '^GPU ' || true)
    ((count > 0)) || die "--num_gpus: nvidia-smi -L lists no GPU; pass --num_gpus=N"
  elif $dry_run; then
    count=2
    echo "# nvidia-smi not found and no --num_gpus: showing 2 processes"
  else
    die "--num_gpus: not given and nvidia-smi not found; pass --num_gpus=N or --gpus=LIST"
  fi
  for ((i = 0; i < count; i++)); do gpu_list+=("$i"); done
fi

args=(-m mmcap.main --config="$config" --workdir="$workdir" ${extra[@]+"${extra[@]}"})

# --- One process over all GPUs ---------------------------------------------
if ! $one_per_gpu; then
  if ((${#gpu_list[@]} > 0)); then
    visible=$(IFS=,; echo "${gpu_list[*]}")
    show "CUDA_VISIBLE_DEVICES=$visible $(quote_all "$python" "${args[@]}")"
    $dry_run || CUDA_VISIBLE_DEVICES=$visible exec "$python" "${args[@]}"
  else
    show "$(quote_all "$python" "${args[@]}")"
    $dry_run || exec "$python" "${args[@]}"
  fi
  exit 0
fi

# --- One process per GPU ---------------------------------------------------
n=${#gpu_list[@]}
coordinator="localhost:$port"

show "mkdir -p $(quote "$log_dir")"
$dry_run || mkdir -p "$log_dir"

pids=()
# SIGTERM to the processes still running (mmcap saves and stops); SIGKILL
# to any still running after STOP_GRACE seconds (one stuck in a collective
# with a process that is gone).
STOP_GRACE=${STOP_GRACE:-120}
stop_all() {
  local pid waited=0
  for pid in "${pids[@]}"; do
    [[ -z $pid ]] || kill -TERM "$pid" 2>/dev/null || true
  done
  while ((waited < STOP_GRACE)) && jobs -pr | grep -q .; do
    sleep 1
    waited=$((waited + 1))
  done
  for pid in "${pids[@]}"; do
    [[ -z $pid ]] || kill -KILL "$pid" 2>/dev/null || true
  done
  wait || true
}
$dry_run || trap 'echo "interrupted: stopping all processes" >&2; stop_all; exit 130' INT TERM

for ((i = 0; i < n; i++)); do
  proc_args=("${args[@]}" --coordinator_address="$coordinator" --num_processes="$n" --process_id="$i")
  log="$log_dir/process_$i.log"
  show "CUDA_VISIBLE_DEVICES=${gpu_list[i]} $(quote_all "$python" "${proc_args[@]}") > $(quote "$log") 2>&1 &"
  if ! $dry_run; then
    CUDA_VISIBLE_DEVICES=${gpu_list[i]} "$python" "${proc_args[@]}" >"$log" 2>&1 &
    pids+=("$!")
  fi
done
if $dry_run; then
  echo "# then wait for all $n; when one fails, stop the others (SIGTERM)"
  exit 0
fi
echo "started $n processes; follow process 0 with: tail -f $(quote "$log_dir/process_0.log")" >&2

# Poll until all have exited; the first failure stops the others.
running=$n
while ((running > 0)); do
  for ((i = 0; i < n; i++)); do
    pid=${pids[i]}
    if [[ -z $pid ]] || kill -0 "$pid" 2>/dev/null; then continue; fi  # done or running
    status=0
    wait "$pid" || status=$?
    pids[i]=""
    running=$((running - 1))
    if ((status != 0)); then
      echo "error: process $i exited with status $status (log: $log_dir/process_$i.log); stopping the others" >&2
      stop_all
      exit "$status"
    fi
  done
  sleep 1
done
echo "all $n processes finished; logs in $log_dir" >&2
