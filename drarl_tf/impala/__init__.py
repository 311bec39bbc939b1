"""IMPALA (V-trace) with process actors and a tf.distribute learner."""


def __getattr__(name):  # lazily: the config needs no TensorFlow, `train` loads it
    if name == "ImpalaConfig":
        from drarl_tf.configs import ImpalaConfig

        return ImpalaConfig
    if name == "train":
        from drarl_tf.impala.driver import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ImpalaConfig", "train"]
