"""Number types of the train configs: each field says its range, so a bad value is a one-line
config error (``manifests.config_file``) instead of a crash or a silent misbehaviour later.

Floats are finite everywhere (TOML allows ``nan`` and ``inf``); seeds fit NumPy and torch.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Positive = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]
Seed = Annotated[int, Field(ge=0, lt=2**32)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
FiniteNonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
FinitePositive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
