"""LeNet-5 (LeCun et al. 1998), the lecture's "putting it all together" network for handwritten digits.

Layer sizes are the paper's: 32x32x1 -> C1 6@28x28 -> S2 6@14x14 -> C3 16@10x10 -> S4 16@5x5
-> F5 120 -> F6 84 -> 10 classes, 61,706 parameters. As in most modern re-implementations
(and the lecture's training steps: convolution, ReLU, pooling), it uses ReLU and max pooling
instead of the paper's scaled tanh and trainable sub-sampling, and C3 connects to all six
S2 maps instead of the paper's hand-picked subsets.
"""

from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    """Input [N, in_channels, 32, 32] -> logits [N, num_classes]."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5),  # C1: 32 -> 28
            nn.ReLU(),
            nn.MaxPool2d(2),  # S2: 28 -> 14
            nn.Conv2d(6, 16, kernel_size=5),  # C3: 14 -> 10
            nn.ReLU(),
            nn.MaxPool2d(2),  # S4: 10 -> 5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),  # F5
            nn.ReLU(),
            nn.Linear(120, 84),  # F6
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
