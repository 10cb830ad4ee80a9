"""One exposure per scene from its all-in-focus render's linear luminance (pure numpy).

The median is brought to middle grey (0.18 by day; 0.05 by night, so that highlights stand out),
as a camera's average metering does. By day the exposure is also capped so that at most
``day_clip_percent`` % of the pixels clip, as a camera's highlight-protecting metering does: a
sunlit card beside a shaded backdrop otherwise burns out in large flat white areas that no
photo of the pool has (measured in docs/synth.md). Night frames keep the median rule: their
emitters are meant to clip (brighter than white, as bokeh highlights are).
"""

from __future__ import annotations

import numpy as np

DAY_MIDDLE_GREY = 0.18
NIGHT_MIDDLE_GREY = 0.05
EV_RANGE = (-6.0, 4.0)


def exposure_ev(lum: np.ndarray, night: bool, day_clip_percent: float = 100.0) -> float:
    """The view-transform exposure (EV) for a frame of linear luminances ``lum``; clamped to
    ``EV_RANGE``. ``day_clip_percent`` = 100 is the median rule alone."""
    lum = np.asarray(lum, dtype=np.float64).ravel()
    median = float(np.median(lum))
    ev = float(np.log2((NIGHT_MIDDLE_GREY if night else DAY_MIDDLE_GREY) / max(median, 1e-6)))
    if not night and day_clip_percent < 100.0:
        bright = float(np.percentile(lum, 100.0 - day_clip_percent))
        ev = min(ev, float(np.log2(1.0 / max(bright, 1e-6))))
    return float(np.clip(ev, *EV_RANGE))
