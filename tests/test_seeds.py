"""The seeds of a run's parts come from numpy's SeedSequence (drarl_tf/training/seeds.py)."""

import numpy as np

from drarl_tf.configs import MAX_SEED
from drarl_tf.training.seeds import PARTS, run_seed


def test_a_part_seed_is_the_spawned_child_of_the_run_seed():
    # SeedSequence(s).spawn(n)[i] is the child with spawn_key (i,); its grandchild (i, j).
    child = np.random.SeedSequence(7).spawn(3)[2]
    grandchild = child.spawn(5)[4]
    assert run_seed(7, 2) == int(child.generate_state(1, np.uint32)[0] >> 1)
    assert run_seed(7, 2, 4) == int(grandchild.generate_state(1, np.uint32)[0] >> 1)
    assert run_seed(7, "actors", 0, 4) == run_seed(7, PARTS["actors"], 0, 4)


def test_part_seeds_are_distinct_in_range_and_reproducible():
    seeds = [run_seed(s, part, worker, update) for s in (0, 1, MAX_SEED)
             for part in PARTS for worker in range(3) for update in range(50)]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s <= MAX_SEED for s in seeds)
    assert seeds == [run_seed(s, part, worker, update) for s in (0, 1, MAX_SEED)
                     for part in PARTS for worker in range(3) for update in range(50)]
