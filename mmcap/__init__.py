"""mmcap: m-RNN and LRCN recurrent vision-language models in JAX/Flax."""
