"""Install drarl_tf: `pip install -e .` (CPU), `pip install -e ".[gpu]"` (CUDA).

`pip install .` (not editable) works too. scripts/ is installed as the package
`drarl_tf.scripts` and saved_models/ (its demo model) as `drarl_tf.saved_models`; each
script is also a command on PATH, `drarl-<name>` (COMMANDS), a thin call of the same
`run()` that `python scripts/<name>.py` runs.
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
    # Bootstrap intervals of the faithfulness tables (viz/faithfulness.py); rliable needs it too.
    "scipy>=1.10",
]

# The commands `pip install` puts on PATH: one prefix, no generic names. The script
# modules are scripts/<module>.py; tests/test_install.py checks that each has a command.
COMMANDS = {
    "drarl-impala": "run_impala", "drarl-a2c": "run_a2c", "drarl-ppo": "run_ppo",
    "drarl-export": "export", "drarl-evaluate": "evaluate", "drarl-play": "play",
    "drarl-visualize": "visualize", "drarl-tables": "tables", "drarl-reproduce": "reproduce",
    "drarl-faithfulness": "faithfulness", "drarl-benchmark": "benchmark",
    "drarl-plot-curves": "plot_curves", "drarl-bad-inputs": "bad_inputs",
    "drarl-chaos": "chaos",
}
# The shipped demo model (evaluate, play, visualize and the bad-input catalogue use it),
# as package data found with importlib.resources (drarl_tf.bookkeeping.paths.demo_model).
DEMO_MODEL = "demo-impala-drarl-Catch"

setup(
    name="drarl_tf",
    version="0.1.0",
    description=(
        "Deep Residual Attention RL (DRARL) for Atari in TensorFlow 2: "
        "IMPALA, A2C and PPO with attention-augmented IMPALA ResNets."
    ),
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.14",  # TensorFlow 2.21 has wheels for 3.10-3.13
    packages=[*find_packages(include=["drarl_tf", "drarl_tf.*"]), "drarl_tf.scripts",
              "drarl_tf.saved_models"],
    package_dir={"drarl_tf.scripts": "scripts", "drarl_tf.saved_models": "saved_models"},
    package_data={"drarl_tf.saved_models": [f"{DEMO_MODEL}/**/*"]},
    entry_points={"console_scripts": [f"{name} = drarl_tf.scripts.{module}:run"
                                      for name, module in COMMANDS.items()]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "ray": ["ray>=2.9"],
        # MinAtar's five games (--game=MinAtarBreakout, ...; scripts/reproduce.py --experiment=minatar)
        "minatar": ["minatar==1.0.15"],
        # scripts/benchmark.py --mode=torch_ppo: the PyTorch (Stable-Baselines3) reference
        "compare": ["torch>=2.8", "stable-baselines3>=2.7", "pandas<3",
                    "opencv-python-headless>=4.8"],
        # scripts/faithfulness.py's deletion curve is checked against Quantus's
        "explain": ["quantus>=0.6,<0.7"],
        "test": ["pytest>=8", "ruff>=0.6", "ray>=2.9", "quantus>=0.6,<0.7", "minatar==1.0.15"],
    },
)
