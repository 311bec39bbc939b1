"""Shipped SavedModels, installed as package data of `drarl_tf.saved_models` (setup.py maps
this directory there): only `demo-impala-drarl-Catch/`. Find it with
`drarl_tf.bookkeeping.paths.demo_model()`, in a checkout or an install alike."""
