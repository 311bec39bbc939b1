"""Every bad input of the catalogue (docs/reliability.md): exit code 2, one `error:` line
that names the problem, no traceback."""

from drarl_tf.experiments.bad_inputs import CASES, run_all


def test_the_catalogue_is_large_enough_and_covers_every_script():
    assert len(CASES) >= 20
    assert {c.script for c in CASES} >= {"run_impala.py", "run_a2c.py", "run_ppo.py",
                                         "evaluate.py", "export.py", "play.py", "visualize.py"}


def test_every_bad_input_gives_one_error_line_and_exit_code_2(tmp_path):
    outcomes = run_all(tmp_path, parallel=2)
    missed = [(o.case.script, o.case.args, o.returncode, o.error_lines, o.traceback)
              for o in outcomes if not o.ok]
    assert not missed
