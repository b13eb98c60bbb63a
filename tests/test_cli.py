"""The command line as a user meets it: exit codes and one-line errors."""

import json
import os

from conftest import REPO, run_python

def one_error_line(result) -> str:
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith('error: ')
  return lines[0]


def test_demo_config_runs_from_the_command_line(tmp_path):
  result = run_python('-m', 'mmcap.main', '--config=configs/demo.py',
                      f'--workdir={tmp_path}', '--config.num_train_steps=3',
                      '--config.log_every_steps=1',
                      '--config.dataset.demo.num_train_images=40',
                      '--config.dataset.demo.num_val_images=16',
                      '--config.dataset.demo.num_test_images=16',
                      '--config.evals.test_captions.java=False',  # tested in test_metrics
                      '--config.model.hidden_dim=8', '--config.model.embed_dim=8')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'step 3: loss' in result.stdout and 'tokens/s' in result.stdout
  assert 'most frequent training caption' in result.stdout
  with open(tmp_path / 'results.json') as f:
    assert json.load(f)['step'] == 3


def test_typo_in_override_is_one_line(tmp_path):
  result = run_python('-m', 'mmcap.main', '--config=configs/demo.py',
                      f'--workdir={tmp_path / "run"}', '--config.model.hiden_dim=3')
  line = one_error_line(result)
  assert '--config.model.hiden_dim=3' in line and 'Did you mean "hidden_dim"' in line
  assert not (tmp_path / 'run').exists()


def test_bad_value_type_is_one_line(tmp_path):
  result = run_python('-m', 'mmcap.main', '--config=configs/demo.py',
                      f'--workdir={tmp_path}', '--config.batch_size=many')
  assert '--config.batch_size=many' in one_error_line(result)


def test_missing_prepared_dataset_is_one_line(tmp_path):
  result = run_python('-m', 'mmcap.main', '--config=configs/lrcn_coco.py',
                      f'--workdir={tmp_path / "run"}', f'--config.dataset.dir={tmp_path}/none')
  assert 'none/metadata.json: not found' in one_error_line(result)
  assert not (tmp_path / 'run').exists()


def test_every_config_documents_its_command():
  configs = os.path.join(REPO, 'configs')
  for name in os.listdir(configs):
    if name.endswith('.py'):
      with open(os.path.join(configs, name)) as f:
        text = f.read()
      assert f'--config=configs/{name}' in text, name
      assert 'Result to expect' in text, name


def test_moved_config_field_names_its_new_place(tmp_path):
  result = run_python('-m', 'mmcap.main', '--config=configs/demo.py',
                      f'--workdir={tmp_path / "run"}', '--config.evaluation.retrieval=True')
  assert one_error_line(result) == ('error: --config.evaluation.retrieval=True: this field is'
                                    ' now --config.evals.test_retrieval.enabled')
  assert not (tmp_path / 'run').exists()
