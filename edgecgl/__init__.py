"""edgecgl: cross-granularity weather translation for dashcam video (runtime package).

Everything under ``edgecgl`` itself runs on the vehicle and never imports ``edgecgl.train``.
"""

import os

__version__ = "0.1.0"

# ONNX Runtime 1.32 on Linux writes a telemetry device ID under ~/.cache/Microsoft at import and, where
# HOME is read-only (a vehicle's root filesystem), prints a coloured warning on every run. A user who
# wants its telemetry sets the variable to 0.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
