"""edgecgl: cross-granularity weather translation for dashcam video (runtime package).

Everything under ``edgecgl`` itself runs on the vehicle and never imports ``edgecgl.train``.
"""

__version__ = "0.1.0"
