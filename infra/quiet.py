"""Third-party log lines that tell a user of this project nothing, silenced once per process.

torchao 0.18 (``model.base_weights = "int8"``) registers two Enum types with torch's pytree at
import, which torch 2.14 answers with a deprecation warning per type, and diffusers 0.42 looks
for torchao classes that 0.18 no longer has and says so at import. Both appear wherever diffusers
or peft is imported, so every entry point (the CLIs, Ray workers, the tests) calls
:func:`quiet_library_logs` first; nothing else is silenced.
"""

from __future__ import annotations

import logging

NOISY_LOGGERS = ("torch.utils._pytree", "diffusers.quantizers.torchao.torchao_quantizer")


def quiet_library_logs() -> None:
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
