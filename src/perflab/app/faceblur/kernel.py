"""The face-blur kernel as the offloaders run it (registered in `perflab.app.offload.kernels`).

Usage: ``from perflab.app.faceblur.kernel import KERNEL; KERNEL.function(jpeg, options)``
"""

from perflab.app.faceblur.service import BlurOptions, BlurResult, blur_image, warm_up
from perflab.app.offload.kernels import Kernel

KERNEL = Kernel("blur", blur_image, tuple[bytes, BlurOptions], BlurResult, warm_up)
