"""The demo's settings: how many scenes it renders and at what size, how long each network trains,
the user's photos and depth model, the refocus example's K and the training seed; ``small()``
is the reduced size the tests run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DemoConfig:
    out: str = "runs/demo"
    scenes: int = 24
    heldout_scenes: int = 8  # rendered with another dataset seed, all split "val": never trained
    heldout_samples: int = 32  # 8 scenes at 128 px and 32 spp are the benchmark's small set
    resolution_px: int = 128
    samples: int = 16
    # The two training lanes run side by side (demo.lanes); these balance them (DeblurNet alone
    # against BokehNet stage 1 then the shape BokehNet) and keep the demo under 10 minutes on 2
    # slow shared cores (3,000 and 1,500 until 2026-12-07: 10 min 13 s with set v3).
    deblur_steps: int = 2500
    bokeh_steps: int = 1300
    stage2_steps: int = 200
    shape_scenes: int = 2  # night scenes, each DoF render through triangle, star, heart
    shape_resolution_px: int = 256  # a shape needs discs of some size to be seen (and measured)
    shape_samples: int = 32
    shape_steps: int = 400  # BokehNet with the aperture-shape condition
    photos: list[str] = field(default_factory=list)
    depth_model: str | None = None
    refocus_k: float | None = None  # None: the largest K within the BokehNet's trained blur
    train_seed: int = 0  # the seed of the three trainings (bench/demo_seeds.py varies it)

    @classmethod
    def small(cls, **kw) -> DemoConfig:
        """Reduced size for tests: a few minutes on two cores."""
        return cls(
            scenes=6,
            heldout_scenes=2,
            heldout_samples=4,
            resolution_px=64,
            samples=4,
            deblur_steps=20,
            bokeh_steps=20,
            stage2_steps=10,
            shape_scenes=1,
            shape_resolution_px=64,
            shape_samples=4,
            shape_steps=10,
            **kw,
        )
