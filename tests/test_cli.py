"""The command line as a user meets it: exit codes and one-line errors."""

import json
import os

import pytest

from conftest import REPO, run_command_lines

DEMO_RUN = ('--config.num_train_steps=3', '--config.log_every_steps=1',
            '--config.dataset.demo.num_train_images=40',
            '--config.dataset.demo.num_val_images=16',
            '--config.dataset.demo.num_test_images=16',
            '--config.evals.test_captions.java=False',  # tested in test_metrics
            '--config.model.hidden_dim=8', '--config.model.embed_dim=8')
# Each case's command line ({d}: its own directory).
CASES = {
    'demo': ['--config=configs/demo.py', '--workdir={d}', *DEMO_RUN],
    'typo': ['--config=configs/demo.py', '--workdir={d}/run', '--config.model.hiden_dim=3'],
    'bad_type': ['--config=configs/demo.py', '--workdir={d}', '--config.batch_size=many'],
    'missing_dataset': ['--config=configs/lrcn_coco.py', '--workdir={d}/run',
                        '--config.dataset.dir={d}/none'],
    'moved_field': ['--config=configs/demo.py', '--workdir={d}/run',
                    '--config.evaluation.retrieval=True'],
}


@pytest.fixture(scope='module')
def ran(tmp_path_factory):
  """Each case's (result, directory), all run by one driver process."""
  root = tmp_path_factory.mktemp('cli')
  directories = {name: root / name for name in CASES}
  for directory in directories.values():
    directory.mkdir()
  lines = [[arg.format(d=directories[name]) for arg in args] for name, args in CASES.items()]
  results = run_command_lines('mmcap.main', lines, root)
  return {name: (result, directories[name]) for name, result in zip(CASES, results)}


def one_error_line(result) -> str:
  assert result['status'] == 2, result['stderr']
  lines = result['stderr'].strip().splitlines()
  assert len(lines) == 1, result['stderr']
  assert lines[0].startswith('error: ')
  return lines[0]


def test_demo_config_runs_from_the_command_line(ran):
  result, directory = ran['demo']
  assert result['status'] == 0, result['stderr'][-3000:]
  assert 'step 3: loss' in result['stdout'] and 'tokens/s' in result['stdout']
  assert 'most frequent training caption' in result['stdout']
  with open(directory / 'results.json') as f:
    assert json.load(f)['step'] == 3


def test_typo_in_override_is_one_line(ran):
  result, directory = ran['typo']
  line = one_error_line(result)
  assert '--config.model.hiden_dim=3' in line and 'Did you mean "hidden_dim"' in line
  assert not (directory / 'run').exists()


def test_bad_value_type_is_one_line(ran):
  assert '--config.batch_size=many' in one_error_line(ran['bad_type'][0])


def test_missing_prepared_dataset_is_one_line(ran):
  result, directory = ran['missing_dataset']
  assert 'none/metadata.json: not found' in one_error_line(result)
  assert not (directory / 'run').exists()


def test_every_config_documents_its_command():
  configs = os.path.join(REPO, 'configs')
  for name in os.listdir(configs):
    if name.endswith('.py'):
      with open(os.path.join(configs, name)) as f:
        text = f.read()
      assert f'--config=configs/{name}' in text, name
      assert 'Result to expect' in text, name


def test_moved_config_field_names_its_new_place(ran):
  result, directory = ran['moved_field']
  assert one_error_line(result) == ('error: --config.evaluation.retrieval=True: this field is'
                                    ' now --config.evals.test_retrieval.enabled')
  assert not (directory / 'run').exists()
