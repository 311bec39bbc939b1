"""V-trace and the IMPALA loss against slow step-by-step references."""

import numpy as np
import pytest
import tensorflow as tf

from drarl_tf.losses import impala_loss, vtrace_returns


def _reference_vtrace(log_rhos, discounts, rewards, values, bootstrap, mask, rho_bar=1.0, c_bar=1.0,
                      pg_bar=1.0):
    """IMPALA paper definition, a loop over s and t:

    v_s = V(x_s) + sum_{t>=s} (prod_{i=s}^{t-1} gamma_i c_i) delta_t, delta_t = rho_t (r_t +
    gamma_t V(x_{t+1}) - V(x_t)); a masked step contributes nothing and cuts the trace.
    """
    T, B = rewards.shape
    rhos = np.exp(log_rhos)
    vals = np.concatenate([values, bootstrap[None]], axis=0)
    vs = np.zeros((T, B))
    for b in range(B):
        for s in range(T):
            total, coef = 0.0, 1.0
            for t in range(s, T):
                if not mask[t, b]:
                    break
                delta = min(rho_bar, rhos[t, b]) * (
                    rewards[t, b] + discounts[t, b] * vals[t + 1, b] - vals[t, b]
                )
                total += coef * delta
                coef *= discounts[t, b] * min(c_bar, rhos[t, b])
            vs[s, b] = values[s, b] + total
    vs_next = np.concatenate([vs[1:], bootstrap[None]], axis=0)
    pg = mask * np.minimum(pg_bar, rhos) * (rewards + discounts * vs_next - values)
    return vs, pg


def _random_unroll(T=20, B=6, seed=0, off_policy=True, with_mask=True):
    rng = np.random.default_rng(seed)
    log_rhos = rng.normal(0, 0.8, (T, B)) if off_policy else np.zeros((T, B))
    ends = rng.random((T, B)) < 0.15  # episode ends inside the unroll
    discounts = np.where(ends, 0.0, 0.99)
    # Under next-step autoreset the step after an end is an autoreset step.
    mask = np.ones((T, B))
    if with_mask:
        mask[1:][ends[:-1]] = 0.0
    rewards = rng.normal(0, 1, (T, B))
    values = rng.normal(0, 1, (T, B))
    bootstrap = rng.normal(0, 1, B)
    return log_rhos, discounts, rewards, values, bootstrap, mask


@pytest.mark.parametrize("off_policy", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vtrace_matches_step_by_step_reference(off_policy, with_mask, seed):
    args = _random_unroll(seed=seed, off_policy=off_policy, with_mask=with_mask)
    vs, pg = vtrace_returns(*[tf.constant(a, tf.float64) for a in args[:5]], mask=args[5])
    ref_vs, ref_pg = _reference_vtrace(*args)
    np.testing.assert_allclose(vs.numpy(), ref_vs, atol=1e-6)
    np.testing.assert_allclose(pg.numpy(), ref_pg, atol=1e-6)


def test_none_thresholds_mean_no_clipping():
    args = _random_unroll(seed=3, off_policy=True)
    assert np.exp(args[0]).max() > 2  # some ratios far above the default clip of 1
    vs, pg = vtrace_returns(*[tf.constant(a, tf.float64) for a in args[:5]], mask=args[5],
                            clip_rho_threshold=None, clip_c_threshold=None,
                            clip_pg_rho_threshold=None)
    ref_vs, ref_pg = _reference_vtrace(*args, rho_bar=np.inf, c_bar=np.inf, pg_bar=np.inf)
    np.testing.assert_allclose(vs.numpy(), ref_vs, atol=1e-6)
    np.testing.assert_allclose(pg.numpy(), ref_pg, atol=1e-6)
    clipped, _ = vtrace_returns(*[tf.constant(a, tf.float64) for a in args[:5]], mask=args[5])
    assert np.abs(clipped.numpy() - ref_vs).max() > 1e-3  # clipping does change the targets


@pytest.mark.parametrize("bad, message", [
    (dict(rewards=np.zeros((20, 6, 1))), "rewards must be \\[T, B\\]"),
    (dict(values=np.zeros((19, 6))), "values has shape"),
    (dict(bootstrap_value=np.zeros((1, 6))), "bootstrap_value must be \\[B\\]"),
    (dict(bootstrap_value=np.zeros(5)), "bootstrap_value has shape"),
])
def test_inputs_of_the_wrong_rank_or_shape_are_refused(bad, message):
    log_rhos, discounts, rewards, values, bootstrap, mask = _random_unroll()
    args = dict(log_rhos=log_rhos, discounts=discounts, rewards=rewards, values=values,
                bootstrap_value=bootstrap, mask=mask)
    with pytest.raises(ValueError, match=message):
        vtrace_returns(**{**args, **bad})


def test_on_policy_vtrace_is_the_n_step_return():
    log_rhos, discounts, rewards, values, bootstrap, _ = _random_unroll(off_policy=False, with_mask=False)
    vs, _ = vtrace_returns(log_rhos, discounts, rewards, values, bootstrap)
    T, B = rewards.shape
    expected = np.zeros((T, B))
    for s in range(T):
        ret, disc = 0.0, np.ones(B)
        for t in range(s, T):
            ret = ret + disc * rewards[t]
            disc = disc * discounts[t]
        expected[s] = ret + disc * bootstrap
    np.testing.assert_allclose(vs.numpy(), expected, atol=1e-5)


def test_truncated_episode_bootstraps_from_its_final_observation():
    # Step 0 truncates (discount gamma), step 1 is the autoreset step whose
    # observation is the truncated episode's last: V there is the bootstrap.
    rewards = np.array([[1.0], [0.0], [2.0]])
    values = np.array([[0.5], [3.0], [0.1]])
    discounts = np.full((3, 1), 0.9)
    mask = np.array([[1.0], [0.0], [1.0]])
    vs, pg = vtrace_returns(np.zeros((3, 1)), discounts, rewards, values, np.array([0.7]), mask=mask)
    np.testing.assert_allclose(vs.numpy()[:, 0], [1.0 + 0.9 * 3.0, 3.0, 2.0 + 0.9 * 0.7], atol=1e-6)
    np.testing.assert_allclose(pg.numpy()[1, 0], 0.0)


def _loss_inputs(seed=0):
    rng = np.random.default_rng(seed)
    T, B, A = 12, 5, 4
    log_rhos, discounts, rewards, values, bootstrap, mask = _random_unroll(T, B, seed)
    logits = rng.normal(0, 1, (T, B, A))
    behaviour = rng.normal(0, 1, (T, B, A))
    actions = rng.integers(0, A, (T, B))
    return dict(
        logits=logits, values=values, bootstrap_value=bootstrap, actions=actions,
        behaviour_logits=behaviour, rewards=rewards, discounts=discounts, mask=mask,
    )


def test_junk_at_autoreset_steps_does_not_change_the_loss():
    inputs = _loss_inputs()
    reference = impala_loss(**{k: tf.constant(v) for k, v in inputs.items()})
    junk = {k: np.array(v, copy=True) for k, v in inputs.items()}
    masked = inputs["mask"] == 0
    rng = np.random.default_rng(9)
    junk["logits"][masked] = rng.normal(0, 50, junk["logits"][masked].shape)
    junk["behaviour_logits"][masked] = -1e9
    junk["actions"][masked] = rng.integers(0, 4, masked.sum())
    junk["rewards"][masked] = 1e6
    # Values at an autoreset step after a termination are never used.
    junk["values"][masked] = 1e6
    out = impala_loss(**{k: tf.constant(v) for k, v in junk.items()})
    for a, b in zip(reference, out, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_loss_terms_match_a_numpy_computation():
    inputs = _loss_inputs(3)
    out = impala_loss(**{k: tf.constant(v) for k, v in inputs.items()})

    def log_softmax(x):
        x = x - x.max(-1, keepdims=True)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    lp = log_softmax(inputs["logits"])
    lmu = log_softmax(inputs["behaviour_logits"])
    a = inputs["actions"][..., None]
    target = np.take_along_axis(lp, a, -1)[..., 0]
    log_rhos = target - np.take_along_axis(lmu, a, -1)[..., 0]
    m = inputs["mask"]
    vs, pg = _reference_vtrace(
        log_rhos, inputs["discounts"], inputs["rewards"], inputs["values"],
        inputs["bootstrap_value"], m,
    )
    policy = -(m * pg * target).sum()
    baseline = 0.5 * (m * (vs - inputs["values"]) ** 2).sum()
    entropy = (m * (np.exp(lp) * lp).sum(-1)).sum()
    np.testing.assert_allclose(out.policy.numpy(), policy, rtol=1e-5)
    np.testing.assert_allclose(out.baseline.numpy(), baseline, rtol=1e-5)
    np.testing.assert_allclose(out.entropy.numpy(), entropy, rtol=1e-5)
    np.testing.assert_allclose(out.total.numpy(), policy + 0.5 * baseline + 0.01 * entropy, rtol=1e-5)
