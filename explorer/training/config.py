"""What defines a training run: `TrainConfig`, the lectures' four strategies, and the backbones on offer.

Strategies (lecture 3, "Choosing the right transfer learning approach"; lecture 4, options 1-2):

- "scratch": random weights everywhere, every parameter trained.
- "linear_probe": feature extraction. The pretrained backbone is frozen (requires_grad False and
  kept in eval mode, so batch-norm statistics do not move either); only a new Linear head learns.
- "finetune_last": the last `finetune_blocks` blocks of the backbone and the new head learn; the
  blocks before them stay frozen. `trainer.backbone_blocks()` lists what a "block" is for each network.
- "finetune_all": every parameter learns, the backbone with the smaller `backbone_lr`.

A custom network from the Architectures page (`explorer.models.custom_net`) is backbone `CUSTOM`: the
config carries its spec and input shape as text (`custom_net`). It has no pretrained weights, so
only "scratch" applies; its last layer must be a Linear, re-sized to the number of classes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from explorer.models import custom_net, registry, weights
from explorer.training.augment import Augment

#: The backbone (and model choice on every page) that means "the network built on the Architectures page".
CUSTOM = "custom"


STRATEGIES = ("scratch", "linear_probe", "finetune_last", "finetune_all")


STRATEGY_TITLES = {
    "scratch": "From scratch",
    "linear_probe": "Feature extraction (linear probe)",
    "finetune_last": "Fine-tune the last N blocks",
    "finetune_all": "Fine-tune everything",
}


OPTIMIZERS = ("adam", "sgd")


#: Backbones the trainer cannot use: SqueezeNet's classifier is a convolution, not a Linear layer.
UNSUPPORTED = ("squeezenet1_1",)


_ALWAYS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "lenet5")


def backbones() -> list[str]:
    """Backbones to offer: EfficientNet-Lite0/1/2 (ImageNet weights offline), LeNet-5 (from scratch),
    then every other zoo model whose torchvision weights are already in the torch hub cache."""
    names = list(_ALWAYS)
    names += [name for name in registry.list_models()
              if name not in names and name not in UNSUPPORTED and weights.cached(name) is not None]
    return names


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (JSON-serialisable with `to_dict`)."""

    backbone: str = "efficientnet_lite0"
    strategy: str = "linear_probe"
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3  # learning rate of the new head (and of everything, from scratch)
    backbone_lr: float = 1e-4  # learning rate of fine-tuned backbone blocks
    optimizer: str = "adam"  # "adam" or "sgd" (momentum 0.9)
    weight_decay: float = 0.0
    seed: int = 0
    augment: Augment = field(default_factory=Augment)
    finetune_blocks: int = 1  # N for "finetune_last"
    custom_net: str | None = None  # backbone "custom": `custom_net.to_config(spec, input_shape)`

    @property
    def backbone_label(self) -> str:
        """How tables and run labels name the backbone."""
        return "custom network" if self.backbone == CUSTOM else self.backbone

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = dict(data)
        data["augment"] = Augment(**data.get("augment", {}))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def check(self) -> None:
        """Raise ValueError with a student-facing message for impossible settings."""
        if self.backbone == CUSTOM:
            custom_net.check_trainable(self.custom_net)
            if self.strategy != "scratch":
                raise ValueError("A custom network has no pretrained weights to transfer: train it \"From scratch\".")
        else:
            registry.info(self.backbone)
        if self.backbone in UNSUPPORTED:
            raise ValueError(f"{self.backbone} ends in a convolution, not a Linear layer; choose another backbone.")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}; choose adam or sgd.")
        if not 1 <= self.epochs <= 1000 or not 1 <= self.batch_size <= 1024:
            raise ValueError("Epochs must be 1-1000 and the batch size 1-1024.")
        if not (self.lr > 0 and self.backbone_lr > 0 and self.weight_decay >= 0):
            raise ValueError("Learning rates must be positive and weight decay not negative.")
        if self.strategy == "finetune_last" and self.finetune_blocks < 1:
            raise ValueError("Fine-tune at least 1 block.")

    @property
    def fast_path(self) -> bool:
        """True when backbone features can be cached: frozen backbone and no augmentation."""
        return self.strategy == "linear_probe" and not self.augment.enabled

    @property
    def prefix_cache(self) -> bool:
        """True when the frozen first blocks' output can be cached: fine-tune the last N, no augmentation."""
        return self.strategy == "finetune_last" and not self.augment.enabled
