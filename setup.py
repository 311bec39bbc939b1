"""Install drarl_tf: `pip install -e .` (CPU), `pip install -e ".[gpu]"` (CUDA)."""

from pathlib import Path

from setuptools import find_packages, setup

# Why each pin is what it is: BUILD.md.
INSTALL_REQUIRES = [
    "tensorflow>=2.21,<2.22",
    "tensorboard>=2.21,<2.22",
    "tensorflow-probability>=0.25,<0.26",
    "tf-keras>=2.21,<2.22",
    "gymnasium>=1.2,<2",
    "ale-py>=0.11,<0.13",
    "numpy>=1.26,<3",
    "absl-py>=2.1",
    "tf-keras-vis>=0.8.7,<0.9",
    "dm-sonnet>=2.0.2,<3",
    "pillow>=10",
    "matplotlib>=3.7",
]

setup(
    name="drarl_tf",
    version="0.1.0",
    description=(
        "Deep Residual Attention RL (DRARL) for Atari in TensorFlow 2: "
        "IMPALA, A2C and PPO with attention-augmented IMPALA ResNets."
    ),
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["drarl_tf", "drarl_tf.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "ray": ["ray>=2.9"],
        # scripts/benchmark.py --mode=torch_ppo: the PyTorch (Stable-Baselines3) reference
        "compare": ["torch>=2.8", "stable-baselines3>=2.7", "pandas"],
        "test": ["pytest>=8", "ruff>=0.6", "ray>=2.9"],
    },
)
