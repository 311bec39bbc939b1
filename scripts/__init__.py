"""The command-line scripts, installed as the package `drarl_tf.scripts` (setup.py maps
this directory there) so that each installed command (`drarl-impala`, `drarl-evaluate`,
...) is a thin call of the same `run()` that `python scripts/<name>.py` runs.

Only these modules define absl flags; the library never reads them.
"""
