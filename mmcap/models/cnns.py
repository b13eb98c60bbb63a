"""The image CNNs that extract features, by their `--cnn` name. Each
module (vgg.py, resnet.py) has the same functions: NETWORK,
KERAS_WEIGHTS_FILE, LAYERS, config_from_keras_h5, load_keras_h5 and
flops_per_image."""

from types import ModuleType
from typing import NamedTuple

import flax.linen as nn

from mmcap.models import resnet
from mmcap.models import vgg


class Network(NamedTuple):
  module: ModuleType
  model: type[nn.Module]  # the Flax module, built from a `config`
  config: type  # its sizes: the reference's by default
  default_layer: str


NETWORKS = {
    'vgg16': Network(vgg, vgg.VGG16, vgg.VGGConfig, 'fc7'),
    'resnet50': Network(resnet, resnet.ResNet50, resnet.ResNetConfig, 'avg_pool'),
}
