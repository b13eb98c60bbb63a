"""The task-neutral core: the train loop, the jitted train step and its
shardings, checkpoints, preemption, evaluators and results. It imports no
task; a task plugs in through the `Task` protocol (core/task.py)."""
