"""The interface between the core and a task.

The core owns the train state, the optimizer, the mesh, the loop,
checkpoints and results; a task owns its data, model, loss and evaluations.
Tasks live in mmcap/tasks/; the core never imports one, it is handed one.
"""

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import jax
import ml_collections
import numpy as np

Batch = dict[str, np.ndarray]  # this process's rows of a global batch
Params = Any  # a pytree of arrays


@dataclasses.dataclass
class Evaluation:
  """What one evaluator found: metrics named 'split/name', and JSON files
  (by name, e.g. 'captions_test.json') for the core to write in the workdir."""

  metrics: dict[str, float]
  files: dict[str, Any] = dataclasses.field(default_factory=dict)


class Task(Protocol):
  """A task as the core uses it. Evaluators are config data
  (`config.evals`, see core/evals.py); a task runs the kinds it knows."""

  def init_params(self, rng: jax.Array) -> Params:
    """Fresh parameters; pure, jitted by the core with its shardings."""

  def loss(
      self, params: Params, batch: Mapping[str, jax.Array], rng: jax.Array
  ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The training loss of a global batch, in training mode (dropout drawn
    from `rng`), and scalar metrics for `train_summary`; pure, jitted."""

  def train_batches(self, batch_size: int, skip_batches: int) -> Iterator[Batch]:
    """Endless training batches of `batch_size` rows for this process, in a
    fixed order that depends on the seed only; the first `skip_batches` are
    skipped without being read, so that a resumed run sees the batches an
    uninterrupted one would, as fast at any step."""

  def train_summary(
      self, metrics: dict[str, np.ndarray], seconds: float
  ) -> dict[str, float]:
    """Scalars to log, from the metrics of the steps since the last log
    (each stacked over those steps) and the seconds they took."""

  def evaluate(
      self, settings: ml_collections.ConfigDict, params: Params
  ) -> Evaluation:
    """Runs one evaluator of `config.evals` on `params`."""

  def workdir_files(self) -> dict[str, Any]:
    """JSON files (by name) that let a workdir rebuild the model without
    the dataset, written when training starts."""
