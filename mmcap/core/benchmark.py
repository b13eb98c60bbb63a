"""Measuring speed, for every task: timing, FLOP and memory helpers, and the
train-step row. Each task's benchmark module (mmcap/tasks/*/benchmark.py)
makes its synthetic batches and rows with these; the command line is
mmcap/benchmark.py."""

import dataclasses
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from mmcap.core import steps
from mmcap.core.config import base_config

# Dense peak FLOP/s by device kind and dtype (vendor figures).
PEAK_TFLOPS = {
    'NVIDIA H200': {'bfloat16': 989.0, 'float32': 494.0},
    'NVIDIA H100 80GB HBM3': {'bfloat16': 989.0, 'float32': 494.0},
}


@dataclasses.dataclass(frozen=True)
class Settings:
  """What the command line asked for, passed down to every task."""

  size: str = 'cpu'  # a task's size: 'cpu' or 'paper'
  dtype: str = 'float32'
  batch_size: int | None = None  # None: the size's own
  unroll: int | None = None  # None: as each model's configs run it
  row_blocks: int | None = None  # LRCN's config.model.row_blocks; None: its default
  vocab_multiple: int = 128
  steps: int = 20  # timed repetitions
  warmup: int = 3  # untimed repetitions after compiling
  beam_sizes: tuple[int, ...] = (1, 3, 5)
  peak_tflops: float | None = None  # None: PEAK_TFLOPS of the device
  benchmarks: tuple[str, ...] = ('train', 'decode', 'retrieval')
  compare: str | None = None  # 'torch': time the PyTorch twin beside each row


def timed(
    fn: Callable, args: tuple, settings: Settings, twin: Callable[[], Any] | None = None
) -> tuple[float, list[float], jax.stages.Compiled, list[float]]:
  """Compile time of jitted `fn`, the synchronized times of repetitions, the
  compiled function, and the times of `twin` (see `repeated`)."""
  start = time.perf_counter()
  compiled = fn.lower(*args).compile()
  compile_s = time.perf_counter() - start
  times, twin_times = repeated(
      lambda: jax.block_until_ready(compiled(*args)), settings, twin)
  return compile_s, times, compiled, twin_times


def repeated(
    call: Callable[[], Any], settings: Settings, twin: Callable[[], Any] | None = None
) -> tuple[list[float], list[float]]:
  """The times of `settings.steps` calls of `call` (which returns when its
  work is done) after `settings.warmup` untimed ones; and, given `twin` (the
  PyTorch twin's same work), its times, its calls alternating with `call`'s
  so that both are timed under the same conditions (on a shared machine the
  speed drifts by tens of percent within a minute)."""
  calls = [call] if twin is None else [call, twin]
  times = [[] for _ in calls]
  for i in range(settings.warmup + settings.steps):
    for fn, fn_times in zip(calls, times):
      start = time.perf_counter()
      fn()
      if i >= settings.warmup:
        fn_times.append(time.perf_counter() - start)
  return times[0], times[1] if twin else []


def versus_torch(key: str, mmcap_value: float, torch_value: float) -> dict[str, float]:
  """The twin's time beside mmcap's as `torch_<key>`, and `vs_torch`, the
  PyTorch time over mmcap's (above 1: mmcap is faster)."""
  return {f'torch_{key}': torch_value, 'vs_torch': torch_value / mmcap_value}


def xla_flops(lowered: jax.stages.Lowered) -> float:
  """XLA's FLOP count; GPUs count only after compilation, and leave out the
  matmuls handed to library calls (cuBLAS), so it reads low there."""
  analysis = lowered.cost_analysis() or lowered.compile().cost_analysis()
  if isinstance(analysis, list):
    analysis = analysis[0]
  return float((analysis or {}).get('flops', 0.0))


def peak_flops(dtype: str, settings: Settings) -> float | None:
  if settings.peak_tflops:
    return settings.peak_tflops * 1e12
  peak = PEAK_TFLOPS.get(jax.devices()[0].device_kind, {}).get(dtype)
  return peak * 1e12 if peak else None


def memory(compiled: jax.stages.Compiled) -> dict[str, float]:
  """XLA's peak memory of one call of `compiled` (its arguments, outputs and
  temporaries), and the device's peak so far where it reports one (GPU,
  TPU; not a CPU)."""
  row = {'xla_memory_gb': compiled.memory_analysis().peak_memory_in_bytes / 2**30}
  stats = jax.devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    row['peak_memory_gb'] = stats['peak_bytes_in_use'] / 2**30
  return row


def train_row(
    loss_fn: steps.LossFn,
    unrolled_loss_fn: steps.LossFn,
    params: Any,
    batch: dict,
    counts: dict[str, float],
    model_flops: float,
    settings: Settings,
    twin: Callable[[], Any] | None = None,
) -> dict[str, Any]:
  """One SGD-with-momentum step of `loss_fn` on `batch`: median step time,
  compile time, `<count>_per_s` for each of `counts` (e.g. tokens), model
  FLOP/s and MFU from `model_flops` (per step, the closed form; a
  captioner's loss skips positions without a target, so it can count more
  than is done), XLA's FLOP count of `unrolled_loss_fn` (the same model's
  loss without loops, since XLA counts a loop body once) and peak memory;
  with `twin` (a step of the PyTorch twin), its median step time and
  `vs_torch`."""
  optimizer = steps.make_optimizer(base_config().optimizer)  # SGD, momentum 0.9, clip 10
  state = steps.TrainState(
      jnp.zeros((), jnp.int32), params, optimizer.init(params), jax.random.key(1)
  )
  # On the device before timing: the train loop puts batches there ahead of
  # their step (core/loop.py), so a step does not wait for the copy.
  batch = jax.device_put(batch)

  def step_fn(loss):
    # Not donated: every repetition reuses the same state.
    return jax.jit(functools.partial(steps.train_step, loss_fn=loss, optimizer=optimizer))

  compile_s, times, compiled, twin_times = timed(
      step_fn(loss_fn), (state, batch), settings, twin)
  median = statistics.median(times)
  row = {
      'step_ms': 1e3 * median,
      'compile_s': compile_s,
      **{f'{name}_per_s': count / median for name, count in counts.items()},
      'xla_gflops_per_step': xla_flops(step_fn(unrolled_loss_fn).lower(state, batch)) / 1e9,
      'closed_form_gflops_per_step': model_flops / 1e9,
      'achieved_tflops': model_flops / median / 1e12,
      'params_m': sum(x.size for x in jax.tree.leaves(params)) / 1e6,
  }
  peak = peak_flops(settings.dtype, settings)
  if peak:
    row['mfu'] = model_flops / median / peak
  if twin:
    row |= versus_torch('step_ms', row['step_ms'], 1e3 * statistics.median(twin_times))
  return row | memory(compiled)
