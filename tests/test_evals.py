"""Evaluators as config data and the best checkpoint, on a stub task."""

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from mmcap.core import evals
from mmcap.core.checkpoints import BestCheckpoint
from mmcap.core.steps import TrainState
from mmcap.core.task import Evaluation
from mmcap.errors import InputError


def state(value):
  return TrainState(jnp.zeros((), jnp.int32), {'w': jnp.full((3,), value)}, (),
                    jnp.zeros((2,), jnp.uint32))


def test_a_best_from_a_later_step_gives_way_after_a_resume(tmp_path):
  best = BestCheckpoint(str(tmp_path), 'val/perplexity', lower_is_better=True)
  assert best.offer(900, 10.0, state(1.0))
  best.manager.wait_until_finished()
  # Resumed from an earlier checkpoint: the stored best is reopened.
  best = BestCheckpoint(str(tmp_path), 'val/perplexity', lower_is_better=True)
  assert (best.step, best.value) == (900, 10.0)
  assert not best.offer(850, 11.0, state(2.0))  # worse
  assert not best.offer(860, float('nan'), state(2.0))  # never a NaN
  assert best.offer(870, 9.0, state(3.0))  # better, though earlier than 900
  assert best.manager.all_steps() == [870] and best.step == 870
  restored = best.restore(state(0.0))
  np.testing.assert_array_equal(restored.params['w'], [3.0, 3.0, 3.0])


class StubTask:
  """Every evaluator reports its kind's metric on its split."""

  def evaluate(self, settings, params):
    return Evaluation({f'{settings.split}/{settings.kind}': float(params['w'][0])})


def config(best_metric='val/perplexity'):
  config = ml_collections.ConfigDict()
  config.evals = {
      'val_perplexity': evals.evaluator('perplexity', 'val', every_steps=4),
      'val_captions': evals.evaluator('captions', 'val', every_steps=2),
  }
  config.best_metric = best_metric
  return config


def test_evaluators_run_on_their_own_periods_and_feed_the_best(tmp_path):
  settings = config()
  evals.check(settings, ('perplexity', 'captions'))
  best = BestCheckpoint(str(tmp_path), settings.best_metric, lower_is_better=True)
  # Step 2: only the captions evaluator is due; no best metric yet, no error.
  assert evals.during_training(StubTask(), settings, 2, state(5.0), best) == {
      'val/captions': 5.0}
  assert best.step is None
  found = evals.during_training(StubTask(), settings, 4, state(4.0), best)
  assert found == {'val/perplexity': 4.0, 'val/captions': 4.0} and best.step == 4


def test_a_best_metric_no_evaluator_gives_is_named(tmp_path):
  settings = config('val/bleu_4')
  best = BestCheckpoint(str(tmp_path), settings.best_metric, lower_is_better=False)
  with pytest.raises(InputError, match=r"best_metric='val/bleu_4': not among"):
    evals.during_training(StubTask(), settings, 4, state(1.0), best)


def test_direction_of_metrics():
  assert evals.lower_is_better('val/perplexity') and evals.lower_is_better('test/t2i_medr')
  assert not evals.lower_is_better('val/cider') and not evals.lower_is_better('val/accuracy')
