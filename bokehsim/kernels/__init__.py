"""The compiled kernels: the same work as bokehsim's torch code, laid out for a CPU or a GPU.

Imported only by :mod:`bokehsim.backend`, which decides when they run and what runs where they
cannot (numba and Triton are optional; the torch reference always works).

==========================  ========================================================================
module                      kernels
==========================  ========================================================================
``scatter_numba``           the scatter on the CPU (numba): one output row per thread, no atomics
``triton_launch``           what the Triton kernels share on the host: launch options, emission
                            modes, span tables laid out for a device
``triton_runs``             the run of a kernel row and the deposit of its ends (Triton device code)
``scatter_triton``          the list scatter: :func:`bokehsim.scatter.scatter` on CUDA
``layer_triton``            the fused layer step (select, scatter, integrate, composite) on CUDA
``composite_triton``        twins of ``composite``'s layer plan and fill passes
``tone_triton``             twins of ``tone``'s highlight expansion and shoulder
==========================  ========================================================================
"""
