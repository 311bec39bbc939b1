"""Every bad input of the catalogue (docs/reliability.md): exit code 2, one `error:` line
that names the problem, no traceback. Each case is a fresh interpreter importing
TensorFlow (~4 s), so the default run takes one case per kind of mistake and script;
`pytest -m slow` runs them all (as does `scripts/bad_inputs.py`)."""

import pytest

from drarl_tf.experiments.bad_inputs import CASES, run_all

# One of each kind: flag parsing, config validation, run-directory states, paths, and
# every script but one.
SAMPLE_KINDS = {
    "misspelt game", "a float for an int flag", "unknown flag",
    "batch larger than the actors can have in flight", "logdir is a file",
    "resuming a run directory made with other settings", "every checkpoint of the run damaged",
    "lambda above 1", "no environments", "a model evaluated on a game with other observations",
    "missing run", "export directory is a file (refused before training)",
    "export over a directory of the user's files", "an attention mask the model does not have", "zero seeds",
    "missing runs directory"}
SAMPLE = [c for c in CASES if c.what in SAMPLE_KINDS]


def test_the_catalogue_is_large_enough_and_covers_every_script():
    assert len(CASES) >= 20 and len(SAMPLE) == len(SAMPLE_KINDS)
    assert {c.script for c in CASES} >= {"run_impala.py", "run_a2c.py", "run_ppo.py",
                                         "evaluate.py", "export.py", "play.py", "visualize.py"}


def _check(tmp_path, cases):
    outcomes = run_all(tmp_path, parallel=2, cases=cases)
    missed = [(o.case.script, o.case.args, o.returncode, o.error_lines, o.traceback)
              for o in outcomes if not o.ok]
    assert not missed


def test_a_sample_of_bad_inputs_gives_one_error_line_and_exit_code_2(tmp_path):
    _check(tmp_path, SAMPLE)


@pytest.mark.slow
def test_every_bad_input_gives_one_error_line_and_exit_code_2(tmp_path):
    _check(tmp_path, CASES)
