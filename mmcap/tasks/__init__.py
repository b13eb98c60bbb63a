"""The tasks, one package each, chosen by `config.task` (the registry is
mmcap/train.py). Each plugs into the core (mmcap/core) through its Task
protocol; tasks never import each other."""
