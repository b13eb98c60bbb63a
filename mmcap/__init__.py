"""mmcap: m-RNN and LRCN recurrent vision-language models in JAX/Flax."""

import os

# TensorFlow serves tf.data only: keep its C++ start-up banners out of the
# logs (oneDNN speeds up TF's maths, which mmcap never runs in TF).
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
