"""The layering rules of docs/ARCHITECTURE.md, checked on every import of
the package, and the checker itself on planted violations."""

import ast
import os

import pytest

from conftest import REPO

ENTRY_POINTS = {'mmcap.main', 'mmcap.train', 'mmcap.caption', 'mmcap.prepare',
                'mmcap.prepare_videos', 'mmcap.prepare_video_captions', 'mmcap.fuse',
                'mmcap.benchmark', 'mmcap.extract', 'mmcap.gallery', 'mmcap.flow'}
LIBRARIES = ('mmcap.models', 'mmcap.data', 'mmcap.evaluation', 'mmcap.decode', 'mmcap.describe',
             'mmcap.losses', 'mmcap.errors', 'mmcap.files')
FOUNDATION = ('mmcap.errors', 'mmcap.files')  # what every layer may import


def _within(module: str, package: str) -> bool:
  return module == package or module.startswith(package + '.')


def violation(importer: str, imported: str) -> str | None:
  """Why `importer` may not import `imported`, or None if it may."""
  if importer in ENTRY_POINTS or not _within(imported, 'mmcap'):
    return None
  if imported in ENTRY_POINTS:
    return 'only entry points import entry points'
  if _within(importer, 'mmcap.core'):
    if not (_within(imported, 'mmcap.core') or imported in FOUNDATION):
      return 'the core imports only the core'
  elif _within(importer, 'mmcap.tasks'):
    own = '.'.join(importer.split('.')[:3])
    if _within(imported, 'mmcap.tasks') and not _within(imported, own):
      return 'a task never imports another task'
  elif _within(importer, 'mmcap.models'):
    if not (_within(imported, 'mmcap.models') or imported in FOUNDATION):
      return 'models import only models'
  elif any(_within(importer, lib) for lib in LIBRARIES):
    if not any(_within(imported, lib) for lib in LIBRARIES):
      return 'shared libraries never import the core, a task or an entry point'
  return None


def module_name(path: str) -> str:
  relative = os.path.relpath(path, REPO)[: -len('.py')]
  return relative.replace(os.sep, '.').removesuffix('.__init__')


def imports(source: str, importer: str) -> set[str]:
  """Every module `source` imports, `from a import b` as a.b when a.b is a
  module of the package and as a otherwise."""
  found = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        base = '.'.join(importer.split('.')[: -node.level] + ([base] if base else []))
      for alias in node.names:
        candidate = f'{base}.{alias.name}'
        path = os.path.join(REPO, *candidate.split('.'))
        is_module = os.path.exists(path + '.py') or os.path.isdir(path)
        found.add(candidate if is_module else base)
  return found


def package_imports() -> list[tuple[str, str]]:
  pairs = []
  for root, _, files in os.walk(os.path.join(REPO, 'mmcap')):
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(root, name)
        importer = module_name(path)
        with open(path) as f:
          pairs += [(importer, imported) for imported in imports(f.read(), importer)]
  return pairs


def test_every_import_follows_the_layering_rules():
  pairs = package_imports()
  assert ('mmcap.tasks.captioning.task', 'mmcap.core.evals') in pairs  # it sees imports
  broken = [f'{a} imports {b}: {violation(a, b)}' for a, b in pairs if violation(a, b)]
  assert not broken, '\n'.join(broken)


@pytest.mark.parametrize('importer, imported', [
    ('mmcap.core.loop', 'mmcap.tasks.captioning.task'),
    ('mmcap.core.trainer', 'mmcap.models'),
    ('mmcap.models.lrcn', 'mmcap.data.vocab'),
    ('mmcap.tasks.video.task', 'mmcap.tasks.captioning.evaluators'),
    ('mmcap.tasks.video.task', 'mmcap.train'),
    ('mmcap.decode', 'mmcap.core.steps'),
    ('mmcap.evaluation.metrics', 'mmcap.tasks.captioning.task'),
    ('mmcap.tasks.captioning.task', 'mmcap.train'),
    ('mmcap.files', 'mmcap.core.checkpoints'),
])
def test_planted_violations_are_caught(importer, imported):
  assert violation(importer, imported)


def test_allowed_imports_pass():
  for importer, imported in [('mmcap.tasks.captioning.task', 'mmcap.core.evals'),
                             ('mmcap.tasks.captioning.task', 'mmcap.models'),
                             ('mmcap.train', 'mmcap.tasks.captioning.task'),
                             ('mmcap.decode', 'mmcap.data.vocab'),
                             ('mmcap.core.loop', 'jax'),
                             ('mmcap.core.checkpoints', 'mmcap.files'),
                             ('mmcap.models.vgg', 'mmcap.files')]:
    assert violation(importer, imported) is None


def test_from_imports_resolve_to_modules():
  found = imports('from mmcap.core import evals\nfrom mmcap.data.vocab import PAD_ID\n'
                  'from . import lrcn\n', 'mmcap.models.mrnn')
  assert found == {'mmcap.core.evals', 'mmcap.data.vocab', 'mmcap.models.lrcn'}
