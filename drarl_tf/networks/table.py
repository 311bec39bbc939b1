"""The networks as one table, with their names, checked without TensorFlow.

Every network of the paper is the IMPALA ResNet torso: three sections of
conv 3x3 -> max-pool 3x3/2 -> body, then relu -> flatten -> dense 256 -> relu.
The nets differ only in the body of a section (seed_rl writes the IMPALA one as
`[(16, 2), (32, 2), (32, 2)]`: channels and residual blocks per section):

  impala        2 residual blocks
  large_impala  3 residual blocks (the ablation with the attention nets' size)
  drarl         attention module, mask branch max-pooled then resized back
  simple_drarl  attention module, mask branch at the trunk's resolution

The Keras builder (builder.py) and the Sonnet modules (sonnet_nets.py) both read
`NETWORKS`; neither compares net names. The configs import this module, so it
imports no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

from drarl_tf.errors import DrarlError
from drarl_tf.names import match_name

SECTION_CHANNELS = (16, 32, 32)
HIDDEN_UNITS = 256


@dataclass(frozen=True)
class NetSpec:
    """One network of the table.

    Attributes:
      name: the canonical net name (also the Keras model's name).
      residual_blocks: residual blocks per section (IMPALA body); 0 with `attention`.
      attention: each section's body is one residual attention module.
      downsample_mask: the attention mask branch max-pools 3x3/2 and resizes back.
      channels: output channels of the three sections.
      hidden_units: width of the torso's last dense layer.
    """

    name: str
    residual_blocks: int = 0
    attention: bool = False
    downsample_mask: bool = False
    channels: tuple[int, ...] = SECTION_CHANNELS
    hidden_units: int = HIDDEN_UNITS

    def __post_init__(self):
        if self.attention == (self.residual_blocks > 0):
            raise ValueError(f"{self.name}: a section body is either residual blocks or "
                             "one attention module")
        if self.downsample_mask and not self.attention:
            raise ValueError(f"{self.name}: downsample_mask needs attention")

    @property
    def sections(self) -> tuple[tuple[int, int], ...]:
        """seed_rl's `[(channels, num_blocks), ...]` (0 blocks: an attention module)."""
        return tuple((c, self.residual_blocks) for c in self.channels)


# The order is NET_NAMES' order (configs, grids and the tests iterate over it).
NETWORKS: dict[str, NetSpec] = {
    spec.name: spec
    for spec in (
        NetSpec("impala", residual_blocks=2),
        NetSpec("drarl", attention=True, downsample_mask=True),
        NetSpec("simple_drarl", attention=True),
        NetSpec("large_impala", residual_blocks=3),
    )
}
NET_NAMES = tuple(NETWORKS)


def check_net_name(name: str) -> str:
    """The canonical name of a known network (any case; '_', '-' and spaces ignored:
    `DRARL`, `simple-drarl`, `SimpleDrarl`), else a one-line DrarlError with the names
    and the closest ones."""
    canonical, close = match_name(name, NET_NAMES, closest=2)
    if canonical is not None:
        return canonical
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise DrarlError(f"unknown net '{name}'; choose one of {', '.join(NET_NAMES)}.{hint}")


def net_spec(name: str) -> NetSpec:
    """The table's row of a network (names as `check_net_name` accepts them)."""
    return NETWORKS[check_net_name(name)]
