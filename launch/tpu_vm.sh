#!/usr/bin/env bash
# Train mmcap on a Cloud TPU VM or a TPU pod slice, with gcloud.
#
# Every step prints its command lines before it runs them; --dry_run prints
# them and runs nothing. See --help and launch/README.md.
#
# The command lines for the workers hold ~ in quotes on purpose: it expands
# there, in each worker's home, not here.
# shellcheck disable=SC2088
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
SCRIPT="launch/tpu_vm.sh"

usage() {
  cat <<'EOF'
Usage: launch/tpu_vm.sh SUBCOMMAND [FLAGS] [--config.FIELD=VALUE ...] [-- MMCAP_ARGS ...]

Trains mmcap on a Cloud TPU VM or pod slice: the same `python -m mmcap.main`
on every worker (host), the workdir in a GCS bucket. mmcap finds the other
workers itself (jax.distributed.initialize, from the TPU metadata server).

Buckets: mmcap reads and writes gs:// URLs itself, with the credentials of
the TPU VM's service account (it needs the Storage Object User role on the
buckets); the workdir and any other gs:// argument reach mmcap.main as they
are.

Subcommands:
  create   Create the TPU: `gcloud compute tpus tpu-vm create`, or with
           --queued a queued resource (`gcloud compute tpus queued-resources
           create`), then wait until it is ACTIVE.
  setup    On every worker: install Python (--python) if missing, put this
           repository's source in
           ~/mmcap (--source=copy: a tarball of this checkout's files that
           git tracks or does not ignore; --source=git: git clone --git_url),
           make the venv ~/mmcap-venv and pip install -e ~/mmcap plus
           jax[tpu] (the jax range of pyproject.toml).
  run      On every worker (--worker=all): python -m mmcap.main --config
           --workdir plus the extra arguments, under nohup, logging to
           ~/mmcap-run.log on each worker; returns at once. With
           --foreground it streams every worker's output instead and returns
           when training ends.
  logs     Follow ~/mmcap-run.log on --worker (default 0; Ctrl-C stops
           following, not training).
  delete   Delete the TPU (the queued resource with --queued). Stops billing.
  all      create, setup, run --foreground, then delete (also when a step
           fails or is interrupted).

Flags (defaults in brackets):
  --name=NAME              TPU (and queued resource) name [mmcap-tpu]
  --zone=ZONE              zone [us-central2-b]
  --accelerator_type=TYPE  e.g. v4-8 (one host), v4-32 (4 hosts),
                           v5litepod-16, v6e-16 [v4-8]
  --version=VERSION        TPU software (runtime) version: tpu-ubuntu2204-base
                           for v4, v2-alpha-tpuv5-lite for v5e,
                           v2-alpha-tpuv6e for v6e [tpu-ubuntu2204-base]
  --spot                   Spot TPU: cheaper, can be preempted at any time
  --preemptible            preemptible TPU (older; not with --queued)
  --queued                 request the TPU as a queued resource (waits for
                           capacity instead of failing); create and delete
                           then act on the queued resource
  --project=PROJECT        GCP project [$PROJECT, else gcloud's own setting]
  --source=copy|git        how setup gets mmcap onto the workers [copy]
  --git_url=URL            repository to clone with --source=git
  --python=pythonX.Y       Python for the venv on the workers, installed with
                           apt-get when missing; mmcap needs >= 3.11 and the
                           TPU images ship 3.10 [python3.11]
  --config=PATH            config, relative to the repository root
                           [configs/demo.py]
  --workdir=gs://BUCKET/PATH
                           workdir in a bucket, shared by all workers; run and
                           all need it [gs://YOUR_BUCKET/mmcap/run1, a
                           placeholder]
  --foreground             run: stream the output instead of nohup
  --worker=N|all           logs: which worker's log [0]
  --dry_run                print the command lines; run nothing
  -h, --help               this help

Extra arguments for mmcap.main: --config.FIELD=VALUE flags as they are, and
everything after `--` (run and all only). URLs among them must be gs://
(the workers reach no other storage).

Examples:
  launch/tpu_vm.sh all --dry_run --workdir=gs://my-bucket/mmcap/demo
  launch/tpu_vm.sh create --accelerator_type=v4-32 --spot
  launch/tpu_vm.sh setup --accelerator_type=v4-32
  launch/tpu_vm.sh run --workdir=gs://my-bucket/mmcap/demo --config.num_train_steps=3000
  launch/tpu_vm.sh run --workdir=gs://my-bucket/mmcap/coco --config=configs/lrcn_coco.py \
      --config.dataset.dir=gs://data-bucket/coco
  launch/tpu_vm.sh logs
  launch/tpu_vm.sh delete
EOF
}

# shellcheck source=launch/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Prints a command line (stdout in a dry run, else stderr with "+ ") and runs
# it unless --dry_run.
run_cmd() {
  if $dry_run; then
    quote_all "$@"
    echo
  else
    echo "+ $(quote_all "$@")" >&2
    "$@"
  fi
}
# A comment in the printed plan (dry run) or a progress note (real run).
note() {
  if $dry_run; then echo "# $*"; else echo "# $*" >&2; fi
}

# --- Flags -----------------------------------------------------------------
subcommand=""
name="mmcap-tpu"
zone="us-central2-b"
accelerator_type="v4-8"
version="tpu-ubuntu2204-base"
spot=false
preemptible=false
queued=false
project="${PROJECT:-}"
source_kind="copy"
git_url=""
python="python3.11"
config="configs/demo.py"
workdir="gs://YOUR_BUCKET/mmcap/run1"
foreground=false
worker="0"
dry_run=false
extra=()

# Flags that take a value, as --flag=VALUE or --flag VALUE.
set_value() {
  local flag=$1 value=$2
  [[ -n $value ]] || die "$flag needs a value (see --help)"
  case $flag in
    --name) name=$value ;;
    --zone) zone=$value ;;
    --accelerator_type) accelerator_type=$value ;;
    --version) version=$value ;;
    --project) project=$value ;;
    --source) source_kind=$value ;;
    --git_url) git_url=$value ;;
    --python) python=$value ;;
    --config) config=$value ;;
    --workdir) workdir=$value ;;
    --worker) worker=$value ;;
    *) die "unknown flag $flag (see --help)" ;;
  esac
}
VALUE_FLAGS=" --name --zone --accelerator_type --version --project --source --git_url --python --config --workdir --worker "
SWITCHES=" --spot --preemptible --queued --foreground --dry_run "

while (($# > 0)); do
  arg=$1
  shift
  case $arg in
    -h | --help) usage; exit 0 ;;
    --dry_run) dry_run=true ;;
    --spot) spot=true ;;
    --preemptible) preemptible=true ;;
    --queued) queued=true ;;
    --foreground) foreground=true ;;
    --config.*) extra+=("$arg") ;;  # a config override for mmcap.main
    --) extra+=("$@"); break ;;
    --*)
      value_flag "$arg" "$@"
      shift $((consumed - 1))
      ;;
    -*) die "unknown flag $arg (see --help)" ;;
    *)
      [[ -z $subcommand ]] || die "unexpected argument $arg: one subcommand only (see --help)"
      subcommand=$arg
      ;;
  esac
done

# --- Checks, before anything runs ------------------------------------------
case $subcommand in
  create | setup | run | logs | delete | all) ;;
  "") die "missing subcommand: expected one of create, setup, run, logs, delete, all (see --help)" ;;
  *) die "unknown subcommand $subcommand: expected one of create, setup, run, logs, delete, all" ;;
esac
[[ $name =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]] \
  || die "--name=$name: expected lowercase letters, digits and hyphens, starting with a letter"
[[ $zone =~ ^[a-z0-9-]+$ ]] || die "--zone=$zone: expected a zone such as us-central2-b"
! { $spot && $preemptible; } || die "--spot and --preemptible: give one or the other"
! { $queued && $preemptible; } \
  || die "--preemptible: a queued resource cannot be preemptible; use --spot with --queued"
[[ $worker == all || $worker =~ ^[0-9]+$ ]] || die "--worker=$worker: expected a worker number or all"
[[ $python =~ ^python3\.[0-9]+$ ]] || die "--python=$python: expected pythonX.Y, e.g. python3.11"
case $source_kind in
  copy) ;;
  git) [[ -n $git_url ]] || die "--source=git needs --git_url=URL" ;;
  *) die "--source=$source_kind: expected copy or git" ;;
esac
if [[ $subcommand == run || $subcommand == all ]]; then
  [[ -f $REPO/$config ]] \
    || die "--config=$config: no such file in this checkout (expected a path relative to the repository root, e.g. configs/demo.py)"
elif ((${#extra[@]} > 0)); then
  die "extra mmcap.main arguments (${extra[0]} ...) go with run or all only"
fi

# --- mmcap.main's arguments -------------------------------------------------
# Passed as they are: mmcap reads gs:// itself. A URL of another scheme, or
# a gs:// URL that names no valid bucket, is refused here, before a worker
# is reached.
mmcap_args=""   # for the workers' shell, quoted

check_url() {
  local arg=$1 bucket
  [[ $arg =~ ^(--[A-Za-z0-9_.-]+=)?([A-Za-z][A-Za-z0-9+.-]*)://([^/]*) ]] || return 0
  [[ ${BASH_REMATCH[2]} == gs ]] || die "$arg: only gs:// URLs reach the workers' storage"
  bucket=${BASH_REMATCH[3]}
  # GCS bucket names: 3 to 222 lowercase letters, digits, dots, hyphens and
  # underscores, beginning and ending with a letter or digit.
  [[ $bucket =~ ^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$ ]] \
    || { $dry_run && [[ $bucket == YOUR_BUCKET ]]; } \
    || die "$arg: '$bucket' is not a bucket name (expected gs://BUCKET/PATH; bucket names are lowercase letters, digits, ., - and _)"
}

if [[ $subcommand == run || $subcommand == all ]]; then
  [[ $workdir == gs://* ]] \
    || die "--workdir=$workdir: expected a gs:// path (every worker writes the same workdir)"
  if [[ $workdir == *YOUR_BUCKET* ]] && ! $dry_run; then
    die "--workdir=$workdir is a placeholder: pass --workdir=gs://<your bucket>/..."
  fi
  for arg in --config="$config" --workdir="$workdir" ${extra[@]+"${extra[@]}"}; do
    check_url "$arg"
    mmcap_args+="${mmcap_args:+ }$(quote "$arg")"
  done
fi

# Flags every gcloud command gets.
where=(--zone="$zone")
[[ -z $project ]] || where+=(--project="$project")

LOG="~/mmcap-run.log"  # on each worker
TARBALL="${TMPDIR:-/tmp}/mmcap-src-$name.tar.gz"

# --- Steps -----------------------------------------------------------------
create() {
  local tier=()  # on-demand unless --spot or --preemptible
  if $spot; then tier=(--spot); fi
  if $preemptible; then tier=(--preemptible); fi
  if $queued; then
    run_cmd gcloud compute tpus queued-resources create "$name" --node-id="$name" \
      "${where[@]}" --accelerator-type="$accelerator_type" --runtime-version="$version" \
      ${tier[@]+"${tier[@]}"}
    wait_active
  else
    run_cmd gcloud compute tpus tpu-vm create "$name" "${where[@]}" \
      --accelerator-type="$accelerator_type" --version="$version" ${tier[@]+"${tier[@]}"}
  fi
}

# A queued resource is granted when capacity frees up: poll until ACTIVE.
wait_active() {
  local describe=(gcloud compute tpus queued-resources describe "$name" "${where[@]}"
    --format='value(state.state)')
  if $dry_run; then
    note "repeated every 30 s until the state is ACTIVE:"
    run_cmd "${describe[@]}"
    return
  fi
  local state
  while true; do
    state=$("${describe[@]}")
    case $state in
      ACTIVE) echo "queued resource $name is ACTIVE" >&2; return ;;
      FAILED | SUSPENDING | SUSPENDED)
        echo "error: queued resource $name is $state; delete the request with:" \
          "$SCRIPT delete --queued --name=$name --zone=$zone" >&2
        exit 1
        ;;
    esac
    echo "queued resource $name: $state; checking again in 30 s" >&2
    sleep 30
  done
}

# Runs one shell command line on the workers ("all" or a number).
on_workers() {
  local workers=$1 command=$2
  run_cmd gcloud compute tpus tpu-vm ssh "$name" "${where[@]}" --worker="$workers" \
    --command="$command"
}

setup() {
  # The jax range of pyproject.toml, with the TPU extra: jax[tpu]>=0.10,<0.11.
  local jax_spec
  jax_spec=$(grep -o '"jax>=[^"]*"' "$REPO/pyproject.toml" | tr -d '"') \
    || die "pyproject.toml: no \"jax>=...\" dependency found"
  local jax_tpu="jax[tpu]${jax_spec#jax}"
  local get_source
  if [[ $source_kind == copy ]]; then
    # Only the files git tracks or does not ignore: no .venv, runs/ or .git.
    local pack
    pack="git -C $(quote "$REPO") ls-files -z --cached --others --exclude-standard"
    pack+=" | tar -czf $(quote "$TARBALL") -C $(quote "$REPO") --null -T -"
    if $dry_run; then
      echo "$pack"
    else
      echo "+ $pack" >&2
      git -C "$REPO" ls-files -z --cached --others --exclude-standard \
        | tar -czf "$TARBALL" -C "$REPO" --null -T -
    fi
    run_cmd gcloud compute tpus tpu-vm scp "$TARBALL" "$name:mmcap-src.tar.gz" "${where[@]}" \
      --worker=all
    get_source="mkdir ~/mmcap && tar -xzf ~/mmcap-src.tar.gz -C ~/mmcap"
  else
    get_source="git clone --depth=1 $(quote "$git_url") ~/mmcap"
  fi
  # One line for the remote shell; ~ expands on each worker.
  local pip="~/mmcap-venv/bin/python -m pip install --quiet"
  on_workers all "set -e; \
$python -c \"import ensurepip, venv\" 2>/dev/null \
|| { sudo apt-get update -q && sudo apt-get install -y -q $python $python-venv; }; \
rm -rf ~/mmcap ~/mmcap-venv; $get_source; $python -m venv ~/mmcap-venv; \
$pip --upgrade pip; $pip -e ~/mmcap \"$jax_tpu\""
}

run() {
  local train="~/mmcap-venv/bin/python -m mmcap.main $mmcap_args"
  # On a slice of several hosts mmcap must join the others; only the TPU
  # metadata server lists the hosts, so the worker asks it (a comma means
  # more than one) and sets MMCAP_MULTIHOST=1 for mmcap.main.
  local endpoints="http://metadata.google.internal/computeMetadata/v1/instance/attributes/worker-network-endpoints"
  local hosts
  hosts="cd ~/mmcap || exit 1; \
endpoints=\$(curl -sf -H \"Metadata-Flavor: Google\" $endpoints || true); \
case \$endpoints in *,*) export MMCAP_MULTIHOST=1 ;; esac"
  if $foreground; then
    on_workers all "$hosts; set -o pipefail; $train 2>&1 | tee $LOG"
  else
    on_workers all "$hosts; nohup $train > $LOG 2>&1 < /dev/null & \
echo \"mmcap.main started on \$(hostname); log: $LOG\""
    note "follow worker 0's log: $SCRIPT logs --name=$name --zone=$zone"
  fi
}

logs() {
  on_workers "$worker" "tail -n 200 -F $LOG"
}

delete() {
  if $queued; then
    run_cmd gcloud compute tpus queued-resources delete "$name" "${where[@]}" --force --quiet
  else
    run_cmd gcloud compute tpus tpu-vm delete "$name" "${where[@]}" --quiet
  fi
}

case $subcommand in
  create) create ;;
  setup) setup ;;
  run) run ;;
  logs) logs ;;
  delete) delete ;;
  all)
    create
    # From here on, delete the TPU however the script ends (Ctrl-C included).
    if ! $dry_run; then
      trap 'echo "deleting $name" >&2; delete' EXIT
      trap 'exit 130' INT TERM
    fi
    setup
    foreground=true
    run
    if $dry_run; then delete; fi
    ;;
esac
