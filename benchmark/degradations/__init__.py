"""Built-in degradations: JPEG, the ``gray`` protocol, H.264/HEVC, bicubic downscale; Gaussian and
Poisson noise (float, seeded), MATLAB-exact blur kernels, the RDN/SRMD BD and DN protocols, and
Real-ESRGAN's random second-order chain."""
