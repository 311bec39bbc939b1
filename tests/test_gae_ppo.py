"""GAE, the A2C loss and the PPO clipped loss against step-by-step numpy references."""

import numpy as np
import pytest
import tensorflow as tf

from drarl_tf.losses import a2c_loss, gae_advantages, ppo_loss


def _reference_gae(rewards, values, bootstrap, discounts, mask, lam):
    """Loop over time for each env, straight from the definition."""
    T, B = rewards.shape
    vals = np.concatenate([values, bootstrap[None]], axis=0)
    adv = np.zeros((T, B))
    for b in range(B):
        next_adv = 0.0
        for t in reversed(range(T)):
            if not mask[t, b]:
                adv[t, b] = next_adv = 0.0  # autoreset step: not a transition
                continue
            delta = rewards[t, b] + discounts[t, b] * vals[t + 1, b] - vals[t, b]
            next_adv = delta + discounts[t, b] * lam * next_adv
            adv[t, b] = next_adv
    return adv, adv + values


def _rollout(seed, T=32, B=5):
    rng = np.random.default_rng(seed)
    terminated = rng.random((T, B)) < 0.08
    truncated = ~terminated & (rng.random((T, B)) < 0.05)
    discounts = np.where(terminated, 0.0, 0.99)  # truncation keeps gamma: bootstrap
    mask = np.ones((T, B))
    mask[1:][(terminated | truncated)[:-1]] = 0.0
    return (rng.normal(0, 1, (T, B)), rng.normal(0, 1, (T, B)), rng.normal(0, 1, B),
            discounts, mask)


@pytest.mark.parametrize("lam", [0.0, 0.95, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_matches_step_by_step_reference(lam, seed):
    rewards, values, bootstrap, discounts, mask = _rollout(seed)
    adv, ret = gae_advantages(rewards, values, bootstrap, discounts, mask, lam)
    ref_adv, ref_ret = _reference_gae(rewards, values, bootstrap, discounts, mask, lam)
    np.testing.assert_allclose(adv.numpy(), ref_adv, atol=1e-6)
    np.testing.assert_allclose(ret.numpy(), ref_ret, atol=1e-6)


def test_lambda_one_gives_n_step_returns_with_episode_ends():
    rewards = np.array([[1.0], [2.0], [0.0], [3.0]])
    values = np.array([[0.3], [0.2], [9.0], [0.4]])
    discounts = np.array([[0.9], [0.0], [0.9], [0.9]])  # terminated at t=1
    mask = np.array([[1.0], [1.0], [0.0], [1.0]])  # t=2 is the autoreset step
    _, ret = gae_advantages(rewards, values, np.array([5.0]), discounts, mask, 1.0)
    np.testing.assert_allclose(ret.numpy()[:, 0], [1 + 0.9 * 2, 2.0, 9.0, 3 + 0.9 * 5], atol=1e-6)


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _flat_batch(seed, n=64, a=5):
    rng = np.random.default_rng(seed)
    return dict(
        logits=rng.normal(0, 1, (n, a)), values=rng.normal(0, 1, n),
        actions=rng.integers(0, a, n), old_log_probs=rng.normal(-1.6, 0.3, n),
        old_values=rng.normal(0, 1, n), advantages=rng.normal(0, 1, n),
        returns=rng.normal(0, 1, n), mask=(rng.random(n) > 0.2).astype(np.float64),
    )


def test_ppo_loss_matches_numpy():
    b = _flat_batch(0)
    out = ppo_loss(**{k: tf.constant(v) for k, v in b.items()}, clip_ratio=0.1, value_clip=0.1)
    m = b["mask"].astype(bool)
    lp = np.take_along_axis(_log_softmax(b["logits"]), b["actions"][:, None], 1)[:, 0]
    adv = b["advantages"][m]
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = np.exp(lp[m] - b["old_log_probs"][m])
    policy = np.maximum(-adv * ratio, -adv * np.clip(ratio, 0.9, 1.1)).mean()
    v, v_old, R = b["values"][m], b["old_values"][m], b["returns"][m]
    v_clip = v_old + np.clip(v - v_old, -0.1, 0.1)
    value = 0.5 * np.maximum((v - R) ** 2, (v_clip - R) ** 2).mean()
    p = np.exp(_log_softmax(b["logits"][m]))
    entropy = -(p * np.log(p)).sum(-1).mean()
    np.testing.assert_allclose(out.policy.numpy(), policy, rtol=1e-6)
    np.testing.assert_allclose(out.value.numpy(), value, rtol=1e-6)
    np.testing.assert_allclose(out.entropy.numpy(), entropy, rtol=1e-6)
    np.testing.assert_allclose(out.total.numpy(), policy + 0.5 * value - 0.01 * entropy, rtol=1e-6)


def test_a2c_loss_matches_numpy():
    b = _flat_batch(1)
    out = a2c_loss(tf.constant(b["logits"]), tf.constant(b["values"]), b["actions"],
                   tf.constant(b["returns"]), b["mask"])
    m = b["mask"].astype(bool)
    lp = np.take_along_axis(_log_softmax(b["logits"]), b["actions"][:, None], 1)[:, 0][m]
    adv = b["returns"][m] - b["values"][m]
    np.testing.assert_allclose(out.policy.numpy(), (-adv * lp).mean(), rtol=1e-6)
    np.testing.assert_allclose(out.value.numpy(), (adv**2).mean(), rtol=1e-6)


@pytest.mark.parametrize("loss", ["ppo", "a2c"])
def test_masked_samples_do_not_change_the_loss(loss):
    b = _flat_batch(2)
    junk = {k: np.array(v, copy=True) for k, v in b.items()}
    masked = b["mask"] == 0
    rng = np.random.default_rng(3)
    for key in ("values", "old_log_probs", "old_values", "advantages", "returns"):
        junk[key][masked] = rng.normal(0, 100, masked.sum())
    junk["logits"][masked] = rng.normal(0, 100, junk["logits"][masked].shape)

    def run(x):
        t = {k: tf.constant(v) for k, v in x.items()}
        if loss == "ppo":
            return ppo_loss(**t)
        return a2c_loss(t["logits"], t["values"], t["actions"], t["returns"], t["mask"])

    for a, c in zip(run(b), run(junk), strict=True):
        np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=1e-6)
