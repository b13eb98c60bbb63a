r"""Benchmarks: every task's training, decoding and retrieval speed on
synthetic batches.

  python -m mmcap.benchmark --size=cpu                  # seconds, any machine
  python -m mmcap.benchmark --size=paper --dtype=bfloat16 --batch_size=1024
  python -m mmcap.benchmark --size=cpu --benchmarks=pipeline
  python -m mmcap.benchmark --size=paper --benchmarks=extract   # VGG-16 images/s

Models run on synthetic in-memory batches, so nothing but JAX is needed (no
TensorFlow import); `pipeline` measures a task's tf.data input pipeline alone
on a generated dataset, `extract` the VGG-16 feature extraction (fc7, one
crop) of `mmcap.extract` on synthetic images. Each measurement is printed as one JSON line (and
appended to --output), then all as a table. Step times are medians over
--steps synchronized steps after --warmup; compile time is measured apart.
Achieved FLOP/s and MFU use the closed-form count of the dense layers (GUIDE:
6 x MACs per training token, the model FLOPs) over --peak_tflops (default:
known peaks of the device, else none). XLA's cost analysis is reported beside
it as a cross-check; on CPU the two agree within 1%, but on GPU XLA does not
count the cuBLAS matmuls it hands to library calls, so it reads low there.
Each task adds its rows (mmcap/tasks/*/benchmark.py). Record results in
benchmarks/RESULTS.md with the date, hardware, versions, commit and command.
"""

import json

from absl import app
from absl import flags
from etils import epath
import jax

from mmcap import errors
from mmcap.core.benchmark import Settings
from mmcap.errors import InputError, WriteError
from mmcap.files import check_output_path, io_errors, is_url, reason
from mmcap.tasks.activity import benchmark as activity
from mmcap.tasks.captioning import benchmark as captioning
from mmcap.tasks.video import benchmark as video

# Each task's benchmark module: its MODELS, SIZES and rows().
TASKS = (captioning, activity, video)
MODELS = tuple(name for task in TASKS for name in task.MODELS)

_SIZE = flags.DEFINE_enum(
    'size', 'cpu', ['cpu', 'compare', 'paper'],
    "Model and data sizes: seconds on any machine, the PyTorch comparison's"
    ' (mid-size, for a CPU), or the papers\'.')
_MODELS = flags.DEFINE_list('models', list(MODELS), f'Any of {MODELS}.')
BENCHMARKS = ('train', 'decode', 'retrieval', 'pipeline', 'extract')

_BENCHMARKS = flags.DEFINE_list(
    'benchmarks', ['train', 'decode', 'retrieval'], f'Any of {BENCHMARKS}.')
_BATCH = flags.DEFINE_integer(
    'batch_size', None, 'Training batch (examples).', lower_bound=1)
_DTYPE = flags.DEFINE_enum('dtype', 'float32', ['float32', 'bfloat16'], 'Compute dtype.')
_UNROLL = flags.DEFINE_integer(
    'unroll', None, 'lax.scan unroll of the recurrences (default: as each model'
    "'s configs run it: LRCN's and the activity LSTM's fully unrolled, the"
    ' others 1).', lower_bound=1)
_ROW_BLOCKS = flags.DEFINE_integer(
    'row_blocks', None, "LRCN training's config.model.row_blocks: each LSTM step computes"
    ' only the blocks of rows, of this many, that still have a target (1: every row;'
    ' default: the config default).', lower_bound=1)
_VOCAB_MULTIPLE = flags.DEFINE_integer(
    'vocab_multiple', 128, 'Logits padded to a multiple of this (1: none).', lower_bound=1)
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed repetitions.', lower_bound=1)
_WARMUP = flags.DEFINE_integer(
    'warmup', 3, 'Untimed repetitions after compiling.', lower_bound=0)
_BEAMS = flags.DEFINE_list('beam_sizes', ['1', '3', '5'], 'Beam sizes to decode with.')
_PEAK = flags.DEFINE_float('peak_tflops', None, 'Peak TFLOP/s for MFU.', lower_bound=0)
_OUTPUT = flags.DEFINE_string('output', None, 'Append JSON lines to this file.')
_COMPARE = flags.DEFINE_enum(
    'compare', None, ['torch'],
    'Also time the PyTorch twin of each model (mmcap/torch_twin.py; pip install'
    ' mmcap[compare]) on the same batches, its repetitions alternating with'
    " mmcap's, and report vs_torch: its time over mmcap's.")
_TABLE = flags.DEFINE_string(
    'table', None, 'Only print the rows of this JSON-lines file (an --output) as a table.')


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise InputError(f'unexpected arguments: {argv[1:]}')
  if _TABLE.value is not None:
    print_table(_read_rows(_TABLE.value))
    return
  for name in _MODELS.value:
    if name not in MODELS:
      raise InputError(f'--models: {name!r} is not one of {MODELS}')
  for name in _BENCHMARKS.value:
    if name not in BENCHMARKS:
      raise InputError(f'--benchmarks: {name!r} is not one of {BENCHMARKS}')
  if not all(b.isdecimal() and int(b) > 0 for b in _BEAMS.value):
    raise InputError(f'--beam_sizes={",".join(_BEAMS.value)}: expected positive integers')
  if _OUTPUT.value is not None:
    check_output_path(_OUTPUT.value, '--output')
  settings = Settings(
      size=_SIZE.value, dtype=_DTYPE.value, batch_size=_BATCH.value,
      unroll=_UNROLL.value, row_blocks=_ROW_BLOCKS.value,
      vocab_multiple=_VOCAB_MULTIPLE.value,
      steps=_STEPS.value, warmup=_WARMUP.value,
      beam_sizes=tuple(map(int, _BEAMS.value)), peak_tflops=_PEAK.value,
      benchmarks=tuple(_BENCHMARKS.value), compare=_COMPARE.value)
  common = {'size': settings.size, 'dtype': settings.dtype,
            'vocab_multiple': settings.vocab_multiple,
            'device': jax.devices()[0].device_kind, 'num_devices': jax.device_count(),
            'jax': jax.__version__} | _torch_version(settings)
  results = []
  for task in TASKS:
    names = [name for name in _MODELS.value if name in task.MODELS]
    for row in task.rows(names, settings):
      result = common | row
      line = json.dumps(result)
      print(line, flush=True)
      if _OUTPUT.value:
        _append(_OUTPUT.value, line)
      results.append(result)
  print_table(results)


def _torch_version(settings: Settings) -> dict[str, str]:
  """PyTorch's version where the twin is compared; a clear error where it is
  not installed."""
  if settings.compare != 'torch':
    return {}
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise InputError(
        '--compare=torch: PyTorch is not installed (pip install "mmcap[compare]")'
    ) from None
  return {'torch': torch.__version__}


def _read_rows(path: str) -> list[dict]:
  try:
    lines = [line for line in epath.Path(path).read_text().splitlines() if line.strip()]
  except (*io_errors(), UnicodeDecodeError) as error:
    raise InputError(f'--table={path}: not readable ({error})') from None
  try:
    rows = [json.loads(line) for line in lines]
  except json.JSONDecodeError as error:
    raise InputError(f'--table={path}: line {error.lineno}: not JSON') from None
  if not rows or not all(isinstance(row, dict) for row in rows):
    raise InputError(f'--table={path}: expected JSON lines of benchmark rows')
  return rows


def _append(path: str, line: str) -> None:
  """Appends one whole line (rows of earlier runs stay as they were)."""
  target = epath.Path(path)
  try:
    if is_url(path):  # an object cannot be appended to: it is written again
      target.write_text((target.read_text() if target.exists() else '') + line + '\n')
    else:
      with target.open('a') as f:
        f.write(line + '\n')
  except io_errors() as error:
    raise WriteError(f'--output={path}: not written ({reason(error)})') from error


def print_table(results: list[dict]) -> None:
  """The rows as a Markdown table, ready for benchmarks/RESULTS.md."""
  columns = ('benchmark', 'model', 'dtype', 'batch_size', 'beam_size', 'step_ms', 'seconds',
             'compile_s', 'tokens_per_s', 'captions_per_s', 'clips_per_s', 'frames_per_s',
             'pairs_per_s', 'examples_per_s', 'images_per_s', 'first_batch_s',
             'resumed_first_batch_s',
             'achieved_tflops', 'mfu',
             'torch_step_ms', 'torch_seconds', 'vs_torch', 'xla_memory_gb', 'peak_memory_gb')
  shown = [c for c in columns if any(c in r for r in results)]

  def cell(value):
    if isinstance(value, float):
      return f'{value:.3g}' if abs(value) < 1000 else f'{value:,.0f}'
    return '' if value is None else str(value)

  rows = [[cell(r.get(c)) for c in shown] for r in results]
  widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(shown)]
  line = lambda cells: '| ' + ' | '.join(v.ljust(w) for v, w in zip(cells, widths)) + ' |'
  print(line(shown))
  print(line(['-' * w for w in widths]))
  for row in rows:
    print(line(row))


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
