"""Install drarl_tf: `pip install -e .` (CPU), `pip install -e ".[gpu]"` (CUDA).

`pip install .` (not editable) works too: scripts/*.py go to the environment's bin
directory and the demo model to <prefix>/share/drarl_tf/, where
`drarl_tf.experiments.grid.find_script` / `find_shipped` look when there is no checkout.
"""

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
    # Aggregate statistics with confidence intervals (experiments/aggregate.py); rliable
    # 1.2's dependency arch 7.2 fails to import under pandas 3.
    "rliable>=1.2,<2",
    "pandas<3",
]

DEMO_MODEL = "saved_models/demo-impala-drarl-Catch"
SCRIPTS = sorted(str(p) for p in Path("scripts").glob("*.py"))
# The shipped demo model (evaluate, play, visualize and the bad-input catalogue use it),
# one entry per directory, under share/drarl_tf/ of the install prefix.
DATA_FILES = sorted(
    (f"share/drarl_tf/{d.as_posix()}", sorted(str(f) for f in d.iterdir() if f.is_file()))
    for d in [Path(DEMO_MODEL), *Path(DEMO_MODEL).rglob("*")] if d.is_dir())

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
    scripts=SCRIPTS,
    data_files=DATA_FILES,
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "ray": ["ray>=2.9"],
        # scripts/benchmark.py --mode=torch_ppo: the PyTorch (Stable-Baselines3) reference
        "compare": ["torch>=2.8", "stable-baselines3>=2.7", "pandas<3",
                    "opencv-python-headless>=4.8"],
        # scripts/faithfulness.py's deletion curve is checked against Quantus's
        "explain": ["quantus>=0.6,<0.7"],
        "test": ["pytest>=8", "ruff>=0.6", "ray>=2.9", "quantus>=0.6,<0.7"],
    },
)
