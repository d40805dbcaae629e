"""Darknet's learning-rate policies (src/network.c's get_current_rate)."""

import math
from typing import Any, NamedTuple

import numpy as np

from .binding import count, number

POLICIES = ("constant", "step", "steps", "exp", "poly", "sig", "random")


class LearningRatePolicy(NamedTuple):
    """How the learning rate moves with the update count `k`
    (k = seen / (batch * subdivisions)): `learning_rate * (k/burn_in)**power`
    while k < burn_in, then by `policy`:

    - "constant": learning_rate;
    - "step": learning_rate * scale**(k // step);
    - "steps": learning_rate times every scales[i] whose steps[i] <= k;
    - "exp": learning_rate * gamma**k;
    - "poly": learning_rate * (1 - k/max_batches)**power;
    - "sig": learning_rate / (1 + exp(gamma*(k - step)));
    - "random": learning_rate * uniform(0, 1)**power.

    Darknet's defaults: step 1, scale 1, gamma 1, power 4, burn_in 0."""

    policy: str = "constant"
    step: int = 1
    scale: float = 1.0
    steps: tuple = ()
    scales: tuple = ()
    gamma: float = 1.0
    power: float = 4.0
    burn_in: int = 0

    @classmethod
    def checked(cls, *args: Any, **options: Any) -> "LearningRatePolicy":
        """The policy of these fields (positional or by name, Darknet's
        defaults for the rest), each checked."""
        policy, step, scale, steps, scales, gamma, power, burn_in = cls(*args, **options)
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
        steps = tuple(count("steps", value, minimum=0) for value in steps)
        scales = tuple(number("scales", value) for value in scales)
        if policy == "steps" and (not steps or len(steps) != len(scales)):
            raise ValueError(
                f"the steps policy needs as many steps as scales, and at least one; "
                f"got {len(steps)} steps and {len(scales)} scales"
            )
        return cls(
            policy,
            count("step", step),
            number("scale", scale),
            steps,
            scales,
            number("gamma", gamma),
            number("power", power),
            count("burn_in", burn_in, minimum=0),
        )

    def rate(
        self, learning_rate: float, k: int, max_batches: int, rng: np.random.Generator
    ) -> float:
        """The learning rate at update `k`, as Darknet computes it (past
        max_batches, "poly" stays at 0 where Darknet's pow goes astray)."""
        if k < self.burn_in:
            return learning_rate * (k / self.burn_in) ** self.power
        if self.policy == "step":
            return learning_rate * self.scale ** (k // self.step)
        if self.policy == "steps":
            rate = learning_rate
            for step, scale in zip(self.steps, self.scales):
                if step > k:
                    break
                rate *= scale
            return rate
        if self.policy == "exp":
            return learning_rate * self.gamma**k
        if self.policy == "poly":
            return learning_rate * max(0.0, 1 - k / max_batches) ** self.power
        if self.policy == "sig":
            return learning_rate / (1 + math.exp(min(self.gamma * (k - self.step), 700.0)))
        if self.policy == "random":
            return learning_rate * rng.uniform(0, 1) ** self.power
        return learning_rate
