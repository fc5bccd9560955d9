"""The diagnostic CPU kernel as the offloaders run it (registered in
`perflab.app.offload.kernels`).

Usage: ``from perflab.app.diag.kernel import KERNEL; KERNEL.function(5)``
"""

from perflab.app.diag.service import burn_cpu
from perflab.app.offload.kernels import Kernel

KERNEL = Kernel("cpu", burn_cpu, tuple[int], dict[str, int])
