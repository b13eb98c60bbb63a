"""Where data and state live: a 1-D 'data' mesh of every device, batches
sharded along it, the train state replicated. The same code runs on one CPU,
several GPUs or a TPU slice, in one process or several."""

import dataclasses
from typing import Any

import jax
import numpy as np

from mmcap.errors import InputError


@dataclasses.dataclass(frozen=True)
class Placement:
  """The mesh, its two shardings, and global batches made from each
  process's share."""

  mesh: jax.sharding.Mesh

  @classmethod
  def over_all_devices(cls) -> 'Placement':
    """Every device along 'data', process by process: process p's rows of a
    global batch of B are rows p·B/P to (p+1)·B/P - 1, as the input
    pipelines give them (data/order.py: process_stream)."""
    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    return cls(
        jax.sharding.Mesh(
            np.array(devices), ('data',), axis_types=(jax.sharding.AxisType.Auto,)
        )
    )

  @property
  def data(self) -> jax.NamedSharding:
    """Sharded along the leading (batch) axis."""
    return jax.NamedSharding(self.mesh, jax.P('data'))

  @property
  def replicated(self) -> jax.NamedSharding:
    return jax.NamedSharding(self.mesh, jax.P())

  def to_global(self, batch: dict[str, Any]) -> dict[str, Any]:
    """One global array per field (fields may nest) from this process's rows."""
    return jax.tree.map(
        lambda rows: jax.make_array_from_process_local_data(self.data, rows), batch
    )


def process_batch_size(global_size: int, flag: str) -> int:
  """This process's share of a global batch; `flag` names the config field.

  The global size must be a positive multiple of the device count (each
  device gets the same rows), hence of the process count.
  """
  devices, processes = jax.device_count(), jax.process_count()
  if global_size <= 0 or global_size % devices:
    raise InputError(
        f'--config.{flag}={global_size}: must be a positive multiple of the'
        f' {devices} devices' + (f' of the {processes} processes' if processes > 1 else '')
    )
  return global_size // jax.process_count()
