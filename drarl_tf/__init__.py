"""drarl_tf: Deep Residual Attention Reinforcement Learning (Zhu & Kaneko) in TensorFlow 2."""

__version__ = "0.1.0"
